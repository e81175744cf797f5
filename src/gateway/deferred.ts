import type { Statement } from "bun:sqlite";
import type { SqliteStore } from "../store/sqlite-store";

export interface DeferredRow {
  requestId: string;
  upstreamId: string;
  accountId: string;
  keyId: string | null;
  capKeyId: string | null;
  memberId: string | null;
  target: string;
  model: string;
  holdMicros: number;
  settledAt: number | null;
  chargeMicros: number | null;
  createdAt: number;
}

type Raw = {
  request_id: string; upstream_id: string; account_id: string; key_id: string | null; cap_key_id: string | null; member_id: string | null; target: string;
  model: string; hold_micros: number; settled_at: number | null; charge_micros: number | null; created_at: number;
};

const row = (r: Raw): DeferredRow => ({
  requestId: r.request_id, upstreamId: r.upstream_id, accountId: r.account_id, keyId: r.key_id, capKeyId: r.cap_key_id, memberId: r.member_id, target: r.target,
  model: r.model, holdMicros: r.hold_micros, settledAt: r.settled_at, chargeMicros: r.charge_micros, createdAt: r.created_at,
});

/**
 * Deferred chat completions: which account asked (only it may fetch the result), on which
 * upstream key and under which upstream id, and the hold kept until the result is charged or
 * the upstream forgets it. Rows outlive restarts (their holds are restored at start).
 */
export class DeferredRequests {
  private readonly q: { get: Statement<Raw, [string]>; put: Statement; pending: Statement<Raw, [number]>; settle: Statement };

  constructor(private readonly store: SqliteStore) {
    const s = store.sqlite;
    this.q = {
      get: s.query("SELECT * FROM deferred_requests WHERE request_id = ?"),
      put: s.query(
        `INSERT INTO deferred_requests (request_id, upstream_id, account_id, key_id, cap_key_id, member_id, target, model, hold_micros, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      pending: s.query("SELECT * FROM deferred_requests WHERE settled_at IS NULL AND created_at <= ? ORDER BY created_at"),
      settle: s.query("UPDATE deferred_requests SET settled_at = ?, charge_micros = ? WHERE request_id = ? AND settled_at IS NULL"),
    };
  }

  park(r: Omit<DeferredRow, "settledAt" | "chargeMicros">): void {
    this.store.write(() => this.q.put.run(r.requestId, r.upstreamId, r.accountId, r.keyId, r.capKeyId, r.memberId, r.target, r.model, r.holdMicros, r.createdAt));
  }

  /** The request if `accountId` made it; null otherwise (a 404 for the caller either way). */
  owned(requestId: string, accountId: string): DeferredRow | null {
    const r = this.q.get.get(requestId);
    return r && r.account_id === accountId ? row(r) : null;
  }

  get(requestId: string): DeferredRow | null {
    const r = this.q.get.get(requestId);
    return r ? row(r) : null;
  }

  /** Still waiting for their result, created at or before `before`. */
  pending(before = Number.MAX_SAFE_INTEGER): DeferredRow[] {
    return this.q.pending.all(before).map(row);
  }

  /** Marks it charged (`charge`) or released (null); false when it was already settled. */
  settled(requestId: string, charge: number | null, at: number): boolean {
    return this.store.write(() => this.q.settle.run(at, charge, requestId).changes) === 1;
  }
}
