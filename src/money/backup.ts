import { BudgetClock } from "./budget-clock";
import { chmodSync, closeSync, fsyncSync, openSync, rmSync, statSync } from "node:fs";
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
 */
export function backupDatabase(store: SqliteStore, target: string, clock = new BudgetClock()): BackupResult {
  const file = store.file;
  const records = file ? readJournal(journalPath(file)) : [];
  // VACUUM INTO fills an empty file: created first, so that the copy is private (0600) from its first byte.
  closeSync(openSync(target, "wx", 0o600));
  try {
    chmodSync(target, 0o600);
    store.sqlite.query("VACUUM INTO ?").run(target);
  } catch (e) {
    rmSync(target, { force: true });
    throw e;
  }

  const copy = new SqliteStore(target);
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
    // One self-contained file: everything in the main file, no -wal beside it.
    copy.sqlite.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    copy.sqlite.close();
    const fd = openSync(target, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return { path: target, bytes: statSync(target).size, ...result };
  } catch (e) {
    // No half-made backup left to be mistaken for a good one.
    copy.sqlite.close();
    for (const f of [target, `${target}-wal`, `${target}-shm`]) rmSync(f, { force: true });
    throw e;
  }
}
