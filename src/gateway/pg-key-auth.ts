import { sql } from "drizzle-orm";
import { sha256Hex } from "../lib/crypto";
import type { PgStore } from "../store/pg-store";
import { rows, run, type Q, type Work } from "../store/work";
import { admitRow, LINE_HOPS, noKey, type AuthRow, type KeyAuth, type KeyAuthRow, type Principal } from "./key-row";

type Raw = Omit<KeyAuthRow, "expires_at" | "revoked_at" | "spend_cap_micros" | "budget_micros"> & {
  expires_at: string | number | null; revoked_at: string | number | null; spend_cap_micros: string | number | null; budget_micros: string | number | null;
};
const num = (v: string | number | null) => (v === null ? null : Number(v));

/** A key row with its account, limits, rotation line and budget owner: the same row as on SQLite. */
function* authRow(q: Q, hash: string): Work<AuthRow | null> {
  const [k] = yield* rows<Raw>(sql`SELECT id, name, prefix, last4, models, expires_at, revoked_at, spend_cap_micros, account_id, rotated_to,
    member_id, budget_micros FROM api_keys WHERE hash = ${hash}`);
  if (!k) return null;
  const [a] = yield* rows<{ name: string; plan: string; status: string }>(sql`SELECT name, plan, status FROM accounts WHERE id = ${k.account_id}`);
  if (!a) return null;
  const [kl] = yield* rows<{ rpm: number | null; tpm: number | null; concurrency: number | null }>(sql`SELECT rpm, tpm, concurrency FROM key_limits WHERE key_id = ${k.id}`);
  const [owner] = k.member_id ? [] : yield* rows<{ id: string }>(sql`SELECT id FROM account_members WHERE account_id = ${k.account_id} AND role = 'owner' AND removed_at IS NULL LIMIT 1`);
  const budget_member = k.member_id ?? owner?.id ?? null;
  // The newest key of the rotation line carries the line's cap, spend and budget.
  let cap_key_id = k.id;
  for (let next = k.rotated_to, hops = 0; next && hops < LINE_HOPS; hops++) {
    cap_key_id = next;
    next = (yield* rows<{ rotated_to: string | null }>(sql`SELECT rotated_to FROM api_keys WHERE id = ${next}`))[0]?.rotated_to ?? null;
  }
  const [line] = cap_key_id === k.id ? [{ b: k.budget_micros }] : yield* rows<{ b: string | number | null }>(sql`SELECT budget_micros AS b FROM api_keys WHERE id = ${cap_key_id}`);
  const [mb] = budget_member ? yield* rows<{ b: string | number | null }>(sql`SELECT budget_micros AS b FROM account_members WHERE id = ${budget_member}`) : [];
  const budgeted = (line?.b ?? null) !== null || (mb?.b ?? null) !== null;
  const models = typeof k.models === "string" || k.models === null ? k.models : JSON.stringify(k.models);
  return {
    ...k, models, expires_at: num(k.expires_at), revoked_at: num(k.revoked_at), spend_cap_micros: num(k.spend_cap_micros), budget_micros: num(k.budget_micros),
    account_name: a.name, plan: a.plan, status: a.status, kl: kl ?? null, cap_key_id, budget_member, budgeted,
  };
}

/**
 * Key authentication on PostgreSQL: rows kept in memory until a change notification (or the 5 s
 * backstop) moves the store's stamp, so a known key costs no round trip and a revocation on any
 * instance applies within about a second; a key not in memory costs one read (concurrent
 * requests with it share that read). Unknown keys are remembered for a second, so a flood of
 * wrong keys reaches the database about once a second per key.
 */
export class PgKeyAuthenticator implements KeyAuth {
  private stamp = -1;
  private readonly rows = new Map<string, AuthRow>();
  private readonly unknown = new Map<string, number>();
  private readonly loading = new Map<string, Promise<AuthRow | null>>();
  private touches = new Map<string, number>();

  constructor(private readonly store: PgStore, private readonly now: () => number = Date.now) {}

  authenticate(presented: string | undefined | null, hashed?: string): Principal | Promise<Principal> {
    if (!presented) throw noKey();
    const hash = hashed ?? sha256Hex(presented);
    const s = this.store.changeStamp();
    if (s !== this.stamp) {
      this.stamp = s;
      this.rows.clear();
    }
    const now = this.now();
    const row = this.rows.get(hash);
    if (row) return this.admit(row, presented, now);
    if ((this.unknown.get(hash) ?? 0) > now) return this.admit(null, presented, now);
    return this.load(hash, s).then((r) => this.admit(r, presented, this.now()));
  }

  async flushTouches(): Promise<number> {
    if (this.touches.size === 0) return 0;
    const batch = this.touches;
    this.touches = new Map();
    try {
      await this.store.tx(function* (q) {
        for (const [id, at] of batch) yield* run(sql`UPDATE api_keys SET last_used_at = ${at} WHERE id = ${id}`);
      });
    } catch (e) {
      for (const [id, at] of batch) if (!this.touches.has(id)) this.touches.set(id, at);
      console.error("could not record key last-used times (retried at the next flush):", e);
      return 0;
    }
    return batch.size;
  }

  private admit(row: AuthRow | null, presented: string, now: number): Principal {
    const p = admitRow(row, presented, now);
    this.touches.set(p.keyId, now);
    return p;
  }

  private load(hash: string, stamp: number): Promise<AuthRow | null> {
    let p = this.loading.get(hash);
    if (!p) {
      p = this.store.read((q) => authRow(q, hash)).finally(() => this.loading.delete(hash));
      this.loading.set(hash, p);
      void p.then((row) => {
        if (row && this.stamp === stamp && this.rows.size < MEMO_LIMIT) this.rows.set(hash, row);
        if (!row) {
          if (this.unknown.size >= MEMO_LIMIT) this.unknown.clear();
          this.unknown.set(hash, this.now() + 1_000);
        }
      }, () => {});
    }
    return p;
  }
}

const MEMO_LIMIT = 10_000;
