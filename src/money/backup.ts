import { BudgetClock } from "./budget-clock";
import { chmodSync, closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { SqliteStore } from "../store/sqlite-store";
import { checkLedgerSync } from "./ledger";
import { journalPath, readJournal } from "./settle-journal";
import { SettleWriter } from "./settle-writer";

export interface BackupResult {
  path: string;
  bytes: number;
  /** Charges found in the running gateway's journal, not yet in its database, written into the copy. */
  journaled: number;
  accounts: number;
  ledgerEntries: number;
  /** Accounts whose balance is not the sum of their ledger entries in the copy (none expected). */
  mismatches: ReturnType<typeof checkLedgerSync>;
}

/** Where a backup is written until it is complete; only then is it renamed to its own name. */
export const partialPath = (target: string): string => `${target}.partial`;

/**
 * A consistent copy of the database, taken while a gateway serves it, that includes the charges
 * the gateway has so far only in its settlement journal (up to `settle_batch_ms` of them).
 *
 * The journal is read first and the snapshot (VACUUM INTO, one read transaction) taken after.
 * A settlement missing from what was read was either appended later (its response completed
 * after the backup began) or emptied from the journal before the read; the gateway empties the
 * journal only after writing its records to SQLite, so the snapshot has those. The records read
 * are then written into the copy exactly as a restart writes a journal: once per request id, so
 * those that reached SQLite before the snapshot are not charged twice.
 *
 * All of it happens in `<target>.partial`, fsynced, then renamed to `target`: a backup stopped
 * half-way (a cron timeout, the OOM killer, a full disk) never leaves a file under the name a
 * restore would look for.
 */
export function backupDatabase(store: SqliteStore, target: string, clock = new BudgetClock()): BackupResult {
  const file = store.file;
  const records = file ? readJournal(journalPath(file)) : [];
  const partial = partialPath(target);
  // Created first and exclusively: private (0600) from its first byte, and never two backups in one file.
  closeSync(openSync(partial, "wx", 0o600));
  try {
    chmodSync(partial, 0o600);
    store.sqlite.query("VACUUM INTO ?").run(partial);
    const result = completeCopy(partial, records, clock);
    fsyncPath(partial);
    // The command refused an existing target; one made since is not replaced either.
    if (existsSync(target)) throw new Error(`${target} was created while the backup ran; it was left as it is`);
    renameSync(partial, target);
    fsyncPath(dirname(target));
    return { path: target, bytes: statSync(target).size, ...result };
  } catch (e) {
    // No half-made backup left to be mistaken for a good one (VACUUM INTO leaves a rollback journal).
    for (const f of [partial, `${partial}-journal`, `${partial}-wal`, `${partial}-shm`]) rmSync(f, { force: true });
    // Named: "disk is full" alone reads as if the served database were.
    throw new Error(`the backup to ${target} failed, and nothing of it was left: ${(e as Error).message}`);
  }
}

/** Writes the journaled charges into the copy, checks its ledger, and leaves it one self-contained file. */
function completeCopy(path: string, records: ReturnType<typeof readJournal>, clock: BudgetClock): Omit<BackupResult, "path" | "bytes"> {
  const copy = new SqliteStore(path);
  try {
    let journaled = 0;
    if (records.length > 0) {
      const outcomes = new SettleWriter(copy, clock).commit(records).outcomes;
      const failed = outcomes.filter((o) => !o.ok);
      if (failed.length > 0) throw new Error(`could not write ${failed.length} journaled settlement(s) into the backup (see the error above)`);
      // The gateway empties its journal only once all of it is written: under load it also holds
      // charges already in the snapshot, which the writer skips. Only the others were missing.
      journaled = outcomes.filter((o) => o.ok && (o.value?.charged ?? 0) > 0).length;
    }
    const count = (table: string) => copy.sqlite.query<{ n: number }, []>(`SELECT count(*) AS n FROM ${table}`).get()!.n;
    const result = { journaled, accounts: count("accounts"), ledgerEntries: count("ledger_entries"), mismatches: checkLedgerSync(copy) };
    // One self-contained file: everything in the main file, and no -wal or -shm beside it even
    // while statements of this connection wait to be finalized (it is renamed before they are).
    copy.sqlite.exec("PRAGMA journal_mode = DELETE");
    return result;
  } finally {
    copy.sqlite.close();
  }
}

/** fsync of a file, or of a folder (so that a rename in it is on disk). */
function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
