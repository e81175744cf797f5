import { SettleJournal, type SettleRecord } from "./settle-journal";
import type { HoldRecord, Outcome, SettleWriter, WriteOp, Written } from "./settle-writer";
import type { BudgetClock } from "./budget-clock";
import { Unapplied } from "./unapplied";

export interface SettleSinkOptions {
  journal?: SettleJournal;
  /** How long a journaled settlement may wait before the writing to SQLite starts. */
  applyMs: number;
  /** Settlements per SQLite transaction when writing them (default 128: about a millisecond of writing). */
  sliceSize?: number;
  /** How many waiting settlements are written before applyMs has passed (default 16; Infinity: never). */
  earlyBatch?: number;
  /** After every SQLite commit: the balances and key spends it left, for the caller's memos. */
  onWritten(w: Written): void;
  /** The day each unapplied charge counts on for budgets (as the writer's). */
  clock?: BudgetClock;
}

/**
 * Where the credit store's commits go. With a journal, a settlement is appended to it (one write,
 * durable once it returns), counted in `unapplied` meanwhile, and written to SQLite at most
 * `applyMs` later, in slices. Without one, it is written to SQLite in the same commit. Hold rows
 * (credit_holds, what other processes see as held) ride along with the next write either way.
 */
export class SettleSink {
  /** Journaled settlements not yet in SQLite (the store counts their charges in every balance). */
  readonly unapplied: Unapplied;
  private holdRows: HoldRecord[] = [];
  private applyTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the oldest settlement still waiting for the batch timer was journaled. */
  private waitingSince = 0;
  /** The next slice of a backlog, on the next event-loop turn (after its I/O). */
  private nextSlice: ReturnType<typeof setImmediate> | null = null;
  /** Journaled settlements whose write to SQLite failed and that wait for the next try. */
  private readonly failed = new Set<string>();
  /** When the journal holds this many records, everything is written at once (see commit). */
  private writeAllAt = MAX_JOURNALED;
  /** The journal could not be emptied (ftruncate failed): retried every RETRY_APPLY_MS, logged once. */
  private clearFailing = false;

  constructor(
    private readonly writer: SettleWriter,
    private readonly o: SettleSinkOptions,
  ) {
    this.unapplied = new Unapplied(o.clock);
  }

  addHold(row: HoldRecord): void {
    this.holdRows.push(row);
  }

  /** Commits `ops` and any waiting hold rows; the outcome of each op, in order. */
  commit(ops: SettleRecord[]): Outcome[] {
    const journal = this.o.journal;
    if (!journal) {
      const all: WriteOp[] = [...this.holdRows, ...ops];
      this.holdRows = [];
      return all.length === 0 ? [] : this.write(all).slice(all.length - ops.length);
    }
    let outcomes: Outcome[];
    try {
      if (ops.length > 0) journal.append(ops);
      outcomes = ops.map((op) => ({ ok: true, value: op.t === "settle" ? { charged: op.charge, released: Math.max(0, op.amount - op.charge) } : null }));
      for (const op of ops) this.unapplied.add(op);
    } catch (e) {
      console.error("settlement journal append failed:", e);
      outcomes = ops.map(() => ({ ok: false, error: e }));
    }
    // A journal this long is written whole and emptied: it is emptied only once nothing waits,
    // and slices alone may never get there while about a slice or more arrives every turn. If
    // something in it cannot be written, the next try is another MAX_JOURNALED records later.
    if (journal.records >= this.writeAllAt) {
      this.writeAllAt = journal.records + MAX_JOURNALED;
      this.applyAll();
    } else if (this.holdRows.length > 0) this.applySlice();
    else if (this.unapplied.size > 0 && !this.nextSlice && !this.applyTimer) {
      this.waitingSince = performance.now();
      this.applyTimer = setTimeout(this.onStep, Math.min(STEP_MS, this.o.applyMs));
    }
    return outcomes;
  }

  /**
   * Writes everything journaled (and the hold rows) to SQLite now: before anything else in this
   * process reads or writes money (caughtUp), and at flush.
   */
  readonly applyAll = (): void => {
    this.writeOldest(Number.POSITIVE_INFINITY);
    this.afterApply(RETRY_APPLY_MS);
  };

  /**
   * Called once at start: writes what the journal still holds (settlements of a process that died
   * before writing them to SQLite) and empties it. Idempotent: the ledger's unique request id.
   */
  recover(): number {
    return this.o.journal ? replayJournal(this.o.journal, this.writer) : 0;
  }

  /**
   * The batch timer, every STEP_MS: a batch is written once EARLY_BATCH settlements wait, or once
   * the oldest has waited applyMs. Under steady traffic the batches then stay small (tens of
   * settlements, under a millisecond of writing each), instead of one long write every applyMs
   * that every request arriving meanwhile waits behind; a trickle still waits up to applyMs.
   */
  private readonly onStep = (): void => {
    this.applyTimer = null;
    const waited = performance.now() - this.waitingSince;
    if (this.unapplied.size >= (this.o.earlyBatch ?? EARLY_BATCH) || waited >= this.o.applyMs) return this.applySlice();
    this.applyTimer = setTimeout(this.onStep, Math.max(1, Math.min(STEP_MS, this.o.applyMs - waited)));
  };

  /**
   * One step of the batch timer: a transaction of at most `sliceSize` settlements, the rest in
   * later steps, so that a backlog never holds the event loop (and every request waiting on it)
   * for more than about a millisecond at a time.
   */
  private readonly applySlice = (): void => {
    const ok = this.writeOldest(this.o.sliceSize ?? APPLY_SLICE);
    this.afterApply(ok ? "next turn" : RETRY_APPLY_MS);
  };

  /** Writes the hold rows and the oldest `max` journaled settlements; false if any could not be written. */
  private writeOldest(max: number): boolean {
    if (this.applyTimer) clearTimeout(this.applyTimer);
    if (this.nextSlice) clearImmediate(this.nextSlice);
    this.applyTimer = null;
    this.nextSlice = null;
    const ops: WriteOp[] = [...this.holdRows, ...this.unapplied.take(max)];
    this.holdRows = [];
    if (ops.length === 0) return true;
    const outcomes = this.write(ops);
    let ok = true;
    ops.forEach((op, i) => {
      if (op.t === "hold") return;
      // Not written: still in the journal and still counted, retried at a later step or start.
      if (outcomes[i]!.ok) {
        this.unapplied.written(op);
        this.failed.delete(op.requestId);
      } else {
        this.unapplied.keep(op);
        this.failed.add(op.requestId);
        ok = false;
      }
    });
    return ok;
  }

  /**
   * Some journaled settlements could not be written to SQLite and wait for another try, or the
   * journal could not be emptied (readiness).
   */
  get behind(): boolean {
    return this.failed.size > 0 || this.clearFailing;
  }

  /** The journal is emptied once everything in it is in SQLite; until then the next step is due `next`. */
  private afterApply(next: number | "next turn"): void {
    if (this.unapplied.size > 0) {
      if (next === "next turn") this.nextSlice = setImmediate(this.applySlice);
      else this.applyTimer = setTimeout(this.applySlice, next);
      return;
    }
    const cleared = this.clearJournal();
    // Records a failed clear left count towards the next write-all as appends do.
    this.writeAllAt = (this.o.journal?.records ?? 0) + MAX_JOURNALED;
    if (!cleared && !this.applyTimer) this.applyTimer = setTimeout(this.applySlice, RETRY_APPLY_MS);
  }

  /**
   * Empties the journal; false while the file cannot be truncated (EIO, an append-only file).
   * Its records are all in SQLite by then: left in the file they are only applied again at the
   * next start, which charges nothing twice (the ledger's unique request id), so the gateway
   * serves on and says so once, and appends go on after them until a clear succeeds.
   */
  private clearJournal(): boolean {
    const journal = this.o.journal;
    try {
      journal?.clear();
    } catch (e) {
      if (!this.clearFailing) {
        console.error(`settlement journal: cannot empty ${journal?.path} (${(e as Error)?.message ?? e}); every record in it is in the database, and emptying is retried every second`);
      }
      this.clearFailing = true;
      return false;
    }
    if (this.clearFailing) console.error(`settlement journal: ${journal?.path} emptied again`);
    this.clearFailing = false;
    return true;
  }

  private write(ops: WriteOp[]): Outcome[] {
    const written = this.writer.commit(ops);
    this.o.onWritten(written);
    return written.outcomes;
  }
}

/**
 * Writes what a journal holds to SQLite and empties it; how many records it held. Idempotent: the
 * ledger's unique request id. Whatever cannot be written stays in the file (an error is thrown).
 */
export function replayJournal(journal: SettleJournal, writer: SettleWriter): number {
  const records = journal.read();
  if (records.length > 0) {
    const failed = writer.commit(records).outcomes.filter((o) => !o.ok);
    // Left in the journal: the next start tries again.
    if (failed.length > 0) {
      throw new Error(`could not write ${failed.length} settlement(s) from ${journal.path} to the database (kept there; see the error above)`);
    }
  }
  journal.clear();
  return records.length;
}

/** A journal this long is written to SQLite at once (else in slices, from applyMs after its first record). */
const MAX_JOURNALED = 2048;
/** Settlements per SQLite transaction of the batch timer (about a millisecond of writing). */
const APPLY_SLICE = 128;
/** How often the batch timer looks at what waits, and how many waiting settlements it writes early. */
const STEP_MS = 10;
const EARLY_BATCH = 16;
const RETRY_APPLY_MS = 1_000;
