import { Database } from "bun:sqlite";
import { accessSync, closeSync, constants, existsSync, ftruncateSync, fstatSync, openSync, readFileSync, writeSync } from "node:fs";
import type { SettleExtras } from "./credit-store";

/** One settlement or release as the journal keeps it until it is in SQLite. */
export interface SettleRecord {
  t: "settle" | "release";
  requestId: string;
  accountId: string;
  keyId: string | null;
  /** The key whose spend the charge adds to (see HoldRequest.capKeyId); absent: keyId. */
  capKeyId?: string | null;
  /** The member whose budget the charge counts against; absent: none. */
  memberId?: string | null;
  /** The hold's amount (a release charges nothing). */
  amount: number;
  charge: number;
  /** Whether the hold had been written to credit_holds (its row is deleted with the settlement). */
  persisted: boolean;
  extras?: SettleExtras;
  /** When it was settled: the ledger entry's created_at. */
  at: number;
}

/** SQLite's own words ("unable to open database file") name no file: the operator would look at the database. */
const lockError = (file: string, e: unknown): Error =>
  new Error(`cannot use the settlement journal's lock ${file}: ${(e as Error)?.message ?? e} (it must be readable and writable by the user the gateway runs as)`, { cause: e });

/**
 * The settlement journal: an append-only file of settlements not yet applied to SQLite. A
 * settlement is appended (one write(2) per group commit) before its response completes, and
 * applied to SQLite in larger batches a moment later, which is far cheaper than one SQLite
 * transaction per commit. The journal is then emptied. Same durability as the database under
 * synchronous=NORMAL: a completed write survives a crash or kill -9 of the process (it is in the
 * OS page cache), not a power cut. At start, whatever it still holds is applied first; applying
 * is idempotent (a request id is charged at most once), so a crash between applying and
 * emptying doubles nothing.
 *
 * One process owns a journal at a time (see `claim`): another process emptying it would take
 * away records its owner has not written to SQLite yet.
 */
export class SettleJournal {
  private size: number;
  /** Records appended since the journal was opened or last emptied. */
  private appended = 0;
  /** A failed write may have left a partial line: the next record must start on a fresh one. */
  private torn = false;

  private fd: number;

  private constructor(readonly path: string, private readonly lock: Database | null) {
    this.fd = openSync(path, "a+", 0o600);
    this.size = fstatSync(this.fd).size;
  }

  /** Opens the journal at `path` without claiming it (tests and tools that own the file anyway). */
  static open(path: string): SettleJournal {
    return new SettleJournal(path, null);
  }

  /**
   * Opens the journal for this process alone, or returns null while another process (another
   * `serve` on the same database) owns it. Ownership is an exclusive SQLite lock on a small file
   * beside it, held until `close` or the process ends: the kernel drops it when the owner dies,
   * however it dies, so the next start takes it over and applies what was left.
   */
  static claim(path: string): SettleJournal | null {
    const file = `${path}.lock`;
    let lock: Database;
    try {
      lock = new Database(file, { create: true });
    } catch (e) {
      throw lockError(file, e);
    }
    try {
      lock.exec("PRAGMA busy_timeout = 0");
      lock.exec("PRAGMA locking_mode = EXCLUSIVE");
      // SQLite opens a file it may not write read-only, where an exclusive transaction takes no lock.
      accessSync(file, constants.R_OK | constants.W_OK);
      // An exclusive transaction takes the exclusive lock, which this locking mode never releases;
      // it writes nothing once the file exists, so a start costs no journal and no fsync.
      lock.exec("BEGIN EXCLUSIVE");
      lock.exec("COMMIT");
    } catch (e) {
      lock.close();
      if ((e as { code?: string }).code?.startsWith("SQLITE_BUSY")) return null;
      throw lockError(file, e);
    }
    return new SettleJournal(path, lock);
  }

  /** Appends the records in one write; throws if they could not all be written. */
  append(records: SettleRecord[]): void {
    let text = this.torn ? "\n" : "";
    for (const r of records) text += JSON.stringify(r) + "\n";
    let done = 0;
    try {
      // A regular file takes the whole write unless it fails (disk full): a short one is a failure.
      done = writeSync(this.fd, text);
      const want = Buffer.byteLength(text);
      if (done !== want) throw new Error(`settlement journal: wrote ${done} of ${want} bytes`);
      this.size += done;
      this.appended += records.length;
      this.torn = false;
    } catch (e) {
      // Take the partial line back if possible; otherwise the next append starts a new line,
      // and reading skips the fragment (its response never completed).
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        this.torn = true;
        this.size += done;
      }
      throw e;
    }
  }

  /** Every record still in the file, in order; a torn fragment (a crash mid-write) is skipped. */
  read(): SettleRecord[] {
    return readJournal(this.path, true);
  }

  /** Empties the file once everything in it is in SQLite. */
  clear(): void {
    if (this.fd < 0) return;
    ftruncateSync(this.fd, 0);
    this.size = 0;
    this.appended = 0;
    this.torn = false;
  }

  get bytes(): number {
    return this.size;
  }

  /** Records appended since it was opened or last emptied (what a start found in it is applied and cleared at once). */
  get records(): number {
    return this.appended;
  }

  /** Closes the file and gives up ownership. */
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    this.lock?.close();
  }
}

/** The journal beside a database file. */
export const journalPath = (dbFile: string): string => `${dbFile}-settlements`;

/**
 * The records in a journal file, in order (none when there is no file). Readers other than its
 * owner (the CLI) may see a record being appended: a torn fragment is skipped, quietly for them.
 */
export function readJournal(path: string, warn = false): SettleRecord[] {
  if (!existsSync(path)) return [];
  const out: SettleRecord[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as SettleRecord);
    } catch {
      if (warn) console.error(`settlement journal: skipped an incomplete record (${line.length} bytes) left by a crash mid-write`);
    }
  }
  return out;
}
