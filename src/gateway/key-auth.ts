import type { Statement } from "bun:sqlite";
import type { SqliteStore } from "../store/sqlite-store";
import { StampedMemo } from "../store/stamped-memo";
import { sha256Hex } from "../lib/crypto";
import { errors } from "../lib/errors";

/** What authentication resolves for a customer request. */
export interface Principal {
  keyId: string;
  keyName: string;
  keyDisplay: string;
  models: string[] | null;
  expiresAt: number | null;
  spendCapMicros: number | null;
  /**
   * The key whose spend and cap the requests count against: the newest replacement when this key
   * was rotated (a key and its replacements share one cap), else the key itself.
   */
  capKeyId: string;
  /**
   * The member whose budget the key's spend counts against: the member who created it, else the
   * account's owner (keys made by the operator or before teams); null when the account has none.
   */
  memberId?: string | null;
  /**
   * Whether the key's line or its member had a budget when the row was read: lets keys without
   * one skip the budget lookups (the credit store's reserve checks budgets regardless).
   */
  budgeted?: boolean;
  accountId: string;
  accountName: string;
  plan: string;
  /** The key's rate-limit overrides (key_limits), if any. */
  keyLimits?: { rpm: number | null; tpm: number | null; concurrency: number | null } | null;
}

type KeyAuthRow = {
  id: string; name: string; prefix: string; last4: string; models: string | null; expires_at: number | null;
  revoked_at: number | null; spend_cap_micros: number | null; account_id: string; rotated_to: string | null; member_id: string | null;
  budget_micros: number | null;
};
type AuthRow = KeyAuthRow & {
  account_name: string; plan: string; status: string;
  kl: { rpm: number | null; tpm: number | null; concurrency: number | null } | null;
  cap_key_id: string;
  /** key.member_id, else the account's owner member. */
  budget_member: string | null;
  budgeted: boolean;
  /** Built once per memoised row (see principalOf). */
  principal?: Principal;
};

/**
 * Resolves a presented key on the hot path: one indexed lookup by SHA-256, no write
 * (last-used times are batched: flushTouches). Revocation and suspension apply on the next request.
 */
export class KeyAuthenticator {
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
    let id = k.id;
    let next = k.rotated_to;
    for (let hops = 0; next && hops < 32; hops++) {
      id = next;
      next = this.q.rotatedTo.get(id)?.rotated_to ?? null;
    }
    return id;
  }

  authenticate(presented: string | undefined | null): Principal {
    if (!presented) {
      throw errors.invalidKey("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.");
    }
    const row = this.rows.get(sha256Hex(presented));
    const now = this.now();
    if (!row) throw errors.invalidKey(`Incorrect API key provided: ${maskKey(presented)}.`);
    if (row.revoked_at !== null) throw errors.invalidKey("This API key has been revoked.");
    if (row.expires_at !== null && row.expires_at <= now) throw errors.invalidKey("This API key has expired.");
    if (row.status !== "active") throw errors.invalidKey("This account is suspended. Contact the operator.");
    this.touches.set(row.id, now);
    return principalOf(row);
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

/**
 * One Principal per memoised row: the same object for every request while the row is unchanged,
 * so that what is derived from it (parsed models, rate-limit levels) is derived once. Read-only.
 */
function principalOf(row: AuthRow): Principal {
  return (row.principal ??= Object.freeze({
    keyId: row.id,
    keyName: row.name,
    keyDisplay: `${row.prefix}…${row.last4}`,
    models: row.models ? (JSON.parse(row.models) as string[]) : null,
    expiresAt: row.expires_at,
    spendCapMicros: row.spend_cap_micros,
    capKeyId: row.cap_key_id,
    memberId: row.budget_member,
    budgeted: row.budgeted,
    accountId: row.account_id,
    accountName: row.account_name,
    plan: row.plan,
    keyLimits: row.kl ? { rpm: row.kl.rpm, tpm: row.kl.tpm, concurrency: row.kl.concurrency } : null,
  }));
}

function maskKey(k: string): string {
  return k.length <= 8 ? "****" : `${k.slice(0, 6)}****${k.slice(-4)}`;
}
