import type { Statement } from "bun:sqlite";
import type { SqliteStore } from "../store/sqlite-store";
import { StampedMemo } from "../store/stamped-memo";
import { sha256Hex } from "../lib/crypto";
import { admitRow, newestOfLine, noKey, type AuthRow, type KeyAuth, type KeyAuthRow, type Principal } from "./key-row";

export type { Principal } from "./key-row";

/**
 * Resolves a presented key on the hot path: one indexed lookup by SHA-256, no write
 * (last-used times are batched: flushTouches). Revocation and suspension apply on the next request.
 */
export class KeyAuthenticator implements KeyAuth {
  private readonly q: {
    key: Statement<KeyAuthRow, [string]>;
    account: Statement<{ name: string; plan: string; status: string }, [string]>;
    limits: Statement<{ rpm: number | null; tpm: number | null; concurrency: number | null }, [string]>;
    rotatedTo: Statement<{ rotated_to: string | null }, [string]>;
    owner: Statement<{ id: string }, [string]>;
    keyBudget: Statement<{ budget_micros: number | null }, [string]>;
    memberBudget: Statement<{ budget_micros: number | null }, [string]>;
  };
  private readonly lookup: { deferred(hash: string): AuthRow | null };
  private touches = new Map<string, number>();
  /** Rows of known keys by hash, re-read only when the database changed (see StampedMemo). */
  private readonly rows: StampedMemo<AuthRow | null>;

  constructor(private readonly store: SqliteStore, private readonly now: () => number = Date.now) {
    // Single-table lookups in one read transaction: several times cheaper in SQLite than
    // the equivalent join (measured ~5 µs against ~27 µs per request).
    const c = store.sqlite;
    this.q = {
      key: c.query(
        "SELECT id, name, prefix, last4, models, expires_at, revoked_at, spend_cap_micros, account_id, rotated_to, member_id, budget_micros FROM api_keys WHERE hash = ?",
      ),
      account: c.query("SELECT name, plan, status FROM accounts WHERE id = ?"),
      limits: c.query("SELECT rpm, tpm, concurrency FROM key_limits WHERE key_id = ?"),
      rotatedTo: c.query("SELECT rotated_to FROM api_keys WHERE id = ?"),
      owner: c.query("SELECT id FROM account_members WHERE account_id = ? AND role = 'owner' AND removed_at IS NULL LIMIT 1"),
      keyBudget: c.query("SELECT budget_micros FROM api_keys WHERE id = ?"),
      memberBudget: c.query("SELECT budget_micros FROM account_members WHERE id = ?"),
    };
    this.lookup = c.transaction((hash: string): AuthRow | null => {
      const k = this.q.key.get(hash);
      if (!k) return null;
      const a = this.q.account.get(k.account_id);
      if (!a) return null;
      const kl = this.q.limits.get(k.id);
      const budget_member = k.member_id ?? this.q.owner.get(k.account_id)?.id ?? null;
      const cap_key_id = this.newestOf(k);
      // The line's budget is on its newest key; the member's on the member.
      const lineBudget = cap_key_id === k.id ? k.budget_micros : (this.q.keyBudget.get(cap_key_id)?.budget_micros ?? null);
      const budgeted = lineBudget !== null || (budget_member !== null && this.q.memberBudget.get(budget_member)?.budget_micros != null);
      return { ...k, account_name: a.name, plan: a.plan, status: a.status, kl, cap_key_id, budget_member, budgeted };
    });
    // Unknown keys are not remembered (no growth from guessed keys); the memo is bounded anyway.
    this.rows = new StampedMemo(store, (hash) => this.lookup.deferred(hash), { limit: MEMO_LIMIT, keep: (row) => row !== null });
  }

  /** The newest key of a rotated key's line (bounded: a cycle cannot hang the lookup). */
  private newestOf(k: KeyAuthRow): string {
    return newestOfLine(k.id, (id) => this.q.rotatedTo.get(id)?.rotated_to ?? null, k.rotated_to);
  }

  authenticate(presented: string | undefined | null, hash?: string): Principal {
    if (!presented) throw noKey();
    const row = this.rows.get(hash ?? sha256Hex(presented));
    const now = this.now();
    const p = admitRow(row, presented, now);
    this.touches.set(p.keyId, now);
    return p;
  }

  /** Writes the batched last-used times (called every few seconds and at shutdown). */
  flushTouches(): number {
    if (this.touches.size === 0) return 0;
    const batch = this.touches;
    this.touches = new Map();
    const stmt = this.store.sqlite.query("UPDATE api_keys SET last_used_at = ? WHERE id = ?");
    try {
      this.store.sqlite.transaction(() => {
        for (const [id, at] of batch) stmt.run(at, id);
      }).immediate();
    } catch (e) {
      // Runs from a timer: a busy database must not take the gateway down; keep the times for the next flush.
      for (const [id, at] of batch) if (!this.touches.has(id)) this.touches.set(id, at);
      console.error("could not record key last-used times (retried at the next flush):", e);
      return 0;
    }
    return batch.size;
  }
}

const MEMO_LIMIT = 10_000;
