import type { SettleResult } from "./credit-store";
import type { SettleRecord } from "./settle-journal";
import type { HoldRecord } from "./settle-writer";

/** What a hold row needs of a hold. */
export interface RowHold {
  accountId: string;
  keyId: string | null;
  amount: number;
  expiresAt: number;
  createdAt: number;
}

/** A hold of the credit store (authoritative in memory; its row is only for other processes). */
export interface Hold {
  accountId: string;
  keyId: string | null;
  /** The key its spend counts against (see HoldRequest.capKeyId). */
  capKeyId: string | null;
  /** The member whose budget it counts against (see HoldRequest.memberId). */
  memberId: string | null;
  amount: number;
  expiresAt: number;
  createdAt: number;
  /** See HoldRequest.freshId (not written to credit_holds). */
  freshId?: boolean;
  /** See HoldRequest.live. */
  live?: boolean;
}

/** A settlement or release waiting for its commit, with the promise it resolves. */
export interface Queued {
  op: SettleRecord;
  hold: Hold;
  resolve(v: SettleResult | null): void;
  reject(e: unknown): void;
}

/**
 * The credit_holds rows of the credit store. A hold's row only tells other processes (the CLI)
 * what is held, and recovery deletes them all: it is written once the hold has been open for
 * HOLD_PERSIST_MS (or at flush), so a request shorter than that never writes one. The money check
 * itself is always in memory.
 */
export class HoldRows {
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Open holds not yet handed to a commit. */
  private pending = new Map<string, RowHold>();

  constructor(
    private readonly o: { now: () => number; addRow: (row: HoldRecord) => void; commit: () => void },
  ) {}

  /** A hold was opened (or put back after a failed commit): its row is due in HOLD_PERSIST_MS. */
  add(requestId: string, hold: RowHold): void {
    this.pending.set(requestId, hold);
    this.arm();
  }

  /** The hold is being settled: true when its row had already been handed to a commit (then deleted with it). */
  settle(requestId: string): boolean {
    return !this.pending.delete(requestId);
  }

  /** Hands the rows of holds opened by `openedBy` to the next commit, and commits. */
  persist(openedBy: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let youngest = Number.POSITIVE_INFINITY;
    for (const [requestId, h] of this.pending) {
      if (h.createdAt > openedBy) {
        youngest = Math.min(youngest, h.createdAt);
        continue;
      }
      this.o.addRow({ t: "hold", requestId, accountId: h.accountId, keyId: h.keyId, amount: h.amount, expiresAt: h.expiresAt, createdAt: h.createdAt });
      this.pending.delete(requestId);
    }
    if (youngest !== Number.POSITIVE_INFINITY) this.arm(youngest + HOLD_PERSIST_MS - this.o.now());
    this.o.commit();
  }

  private readonly persistOld = (): void => this.persist(this.o.now() - HOLD_PERSIST_MS);

  private arm(ms = HOLD_PERSIST_MS): void {
    this.timer ??= setTimeout(this.persistOld, Math.max(1, ms));
  }
}

/** A hold open this long is written to credit_holds (shorter requests never write one). */
const HOLD_PERSIST_MS = 200;

/**
 * A key was rotated: what counts against its cap now counts against the new key's, the holds in
 * flight and the settlements waiting for their commit (their charges go to the line's new key).
 */
export function moveToNewKey(oldKeyId: string, newKeyId: string, o: { holds: Iterable<Hold>; queued: readonly Queued[]; heldByKey: Map<string, number> }): void {
  for (const hold of o.holds) if (hold.capKeyId === oldKeyId) hold.capKeyId = newKeyId;
  for (const { op, hold } of o.queued) {
    if (hold.capKeyId !== oldKeyId) continue;
    hold.capKeyId = newKeyId;
    op.capKeyId = newKeyId;
  }
  const held = o.heldByKey.get(oldKeyId);
  if (held === undefined) return;
  o.heldByKey.delete(oldKeyId);
  o.heldByKey.set(newKeyId, (o.heldByKey.get(newKeyId) ?? 0) + held);
}
