import { closeSync, ftruncateSync, fstatSync, openSync, readFileSync, writeSync } from "node:fs";
import type { SettleExtras } from "./credit-store";

/** One settlement or release as the journal keeps it until it is in SQLite. */
export interface SettleRecord {
  t: "settle" | "release";
  requestId: string;
  accountId: string;
  keyId: string | null;
  /** The hold's amount (a release charges nothing). */
  amount: number;
  charge: number;
  /** Whether the hold had been written to credit_holds (its row is deleted with the settlement). */
  persisted: boolean;
  extras?: SettleExtras;
  /** When it was settled: the ledger entry's created_at. */
  at: number;
}

/**
 * The settlement journal: an append-only file of settlements not yet applied to SQLite. A
 * settlement is appended (one write(2) per group commit) before its response completes, and
 * applied to SQLite in larger batches a moment later, which is far cheaper than one SQLite
 * transaction per commit. The journal is then emptied. Same durability as the database under
 * synchronous=NORMAL: a completed write survives a crash or kill -9 of the process (it is in the
 * OS page cache), not a power cut. At start, whatever it still holds is applied first; applying
 * is idempotent (a request id is charged at most once), so a crash between applying and
 * emptying doubles nothing.
 */
export class SettleJournal {
  private size: number;
  /** A failed write may have left a partial line: the next record must start on a fresh one. */
  private torn = false;

  private constructor(private readonly fd: number, readonly path: string) {
    this.size = fstatSync(fd).size;
  }

  static open(path: string): SettleJournal {
    return new SettleJournal(openSync(path, "a+", 0o600), path);
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
    const out: SettleRecord[] = [];
    for (const line of readFileSync(this.path, "utf8").split("\n")) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as SettleRecord);
      } catch {
        console.error(`settlement journal: skipped an incomplete record (${line.length} bytes) left by a crash mid-write`);
      }
    }
    return out;
  }

  /** Empties the file once everything in it is in SQLite. */
  clear(): void {
    ftruncateSync(this.fd, 0);
    this.size = 0;
    this.torn = false;
  }

  get bytes(): number {
    return this.size;
  }

  close(): void {
    closeSync(this.fd);
  }
}
