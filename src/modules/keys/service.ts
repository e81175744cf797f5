import { desc, eq } from "drizzle-orm";
import type { Statement } from "bun:sqlite";
import { durable, type Db } from "../../store/store";
import { StampedMemo } from "../../store/stamped-memo";
import { apiKeys } from "../../store/schema";
import { sha256Hex } from "../../lib/crypto";
import { errors } from "../../lib/errors";
import { newId, randomBase62 } from "../../lib/ids";
import { audit } from "../audit/service";
import { getAccountRow } from "../accounts/service";
import type { CreateKeyInput, KeyViewT } from "./model";

export type KeyRow = typeof apiKeys.$inferSelect;

export function generateKey(prefix: string): { key: string; hash: string; last4: string } {
  const key = `${prefix}${randomBase62(40)}`;
  return { key, hash: sha256Hex(key), last4: key.slice(-4) };
}

function toMillis(v: number | string | null | undefined): number | null {
  if (v == null) return null;
  return typeof v === "number" ? v * 1000 : Date.parse(v);
}

export function getKeyRow(db: Db, id: string): KeyRow {
  const row = db.select().from(apiKeys).where(eq(apiKeys.id, id)).get();
  if (!row) throw errors.notFound(`API key ${id}`, "id");
  return row;
}

export function createKey(
  db: Db,
  prefix: string,
  accountId: string,
  input: CreateKeyInput,
  actor: string,
  now = Date.now(),
): { row: KeyRow; key: string } {
  const expiresAt = toMillis(input.expires_at);
  if (expiresAt !== null && expiresAt <= now) throw errors.badRequest("expires_at must be in the future.", "expires_at");
  const { key, hash, last4 } = generateKey(prefix);
  const row: KeyRow = {
    id: newId("key"),
    accountId,
    name: input.name ?? "",
    hash,
    prefix,
    last4,
    models: input.models ?? null,
    expiresAt,
    spendCapMicros: input.spend_cap_micros ?? null,
    spentMicros: 0,
    revokedAt: null,
    rotatedTo: null,
    lastUsedAt: null,
    createdAt: now,
  };
  durable(db, () => {
    getAccountRow(db, accountId);
    db.insert(apiKeys).values(row).run();
    audit(db, { actor, action: "key.create", targetType: "api_key", targetId: row.id, after: redact(row) }, now);
  });
  return { row, key };
}

export function listKeys(db: Db, accountId: string): KeyRow[] {
  return db.select().from(apiKeys).where(eq(apiKeys.accountId, accountId)).orderBy(desc(apiKeys.createdAt)).all();
}

/** Issues a replacement with the same settings; the old key expires after the grace period. */
export function rotateKey(db: Db, id: string, graceSeconds: number, actor: string, now = Date.now()): { row: KeyRow; key: string } {
  return durable(db, () => {
    const old = getKeyRow(db, id);
    if (keyStatus(old, now) !== "active") throw errors.badRequest(`API key ${id} is no longer active.`, "id", "key_inactive");
    const { key, hash, last4 } = generateKey(old.prefix);
    // Same logical key with a new secret: it keeps what it spent, or rotation would reset its spend cap.
    const row: KeyRow = { ...old, id: newId("key"), hash, last4, lastUsedAt: null, createdAt: now, rotatedTo: null };
    db.insert(apiKeys).values(row).run();
    // Its rate-limit overrides move with it, or rotation would lift them.
    db.$client
      .query("INSERT INTO key_limits (key_id, rpm, tpm, concurrency, updated_at) SELECT ?, rpm, tpm, concurrency, ? FROM key_limits WHERE key_id = ?")
      .run(row.id, now, id);
    const oldExpiry = now + graceSeconds * 1000;
    const patch = graceSeconds === 0
      ? { revokedAt: now, rotatedTo: row.id }
      : { expiresAt: old.expiresAt === null ? oldExpiry : Math.min(old.expiresAt, oldExpiry), rotatedTo: row.id };
    db.update(apiKeys).set(patch).where(eq(apiKeys.id, id)).run();
    audit(db, { actor, action: "key.rotate", targetType: "api_key", targetId: id, before: redact(old), after: { ...patch, new_key_id: row.id } }, now);
    return { row, key };
  });
}

export function revokeKey(db: Db, id: string, actor: string, now = Date.now()): KeyRow {
  return durable(db, () => {
    const old = getKeyRow(db, id);
    if (old.revokedAt !== null) return old;
    const row = db.update(apiKeys).set({ revokedAt: now }).where(eq(apiKeys.id, id)).returning().get()!;
    audit(db, { actor, action: "key.revoke", targetType: "api_key", targetId: id, before: redact(old), after: { revoked_at: now } }, now);
    return row;
  });
}

export function keyStatus(k: Pick<KeyRow, "revokedAt" | "expiresAt">, now = Date.now()): "active" | "expired" | "revoked" {
  if (k.revokedAt !== null) return "revoked";
  if (k.expiresAt !== null && k.expiresAt <= now) return "expired";
  return "active";
}

const sec = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

export function keyView(k: KeyRow, now = Date.now()): KeyViewT {
  return {
    id: k.id,
    object: "api_key",
    account_id: k.accountId,
    name: k.name,
    display: `${k.prefix}…${k.last4}`,
    models: k.models,
    expires_at: sec(k.expiresAt),
    spend_cap_micros: k.spendCapMicros,
    spent_micros: k.spentMicros,
    status: keyStatus(k, now),
    revoked_at: sec(k.revokedAt),
    rotated_to: k.rotatedTo,
    last_used_at: sec(k.lastUsedAt),
    created_at: sec(k.createdAt)!,
  };
}

function redact(k: KeyRow) {
  const { hash: _h, ...rest } = k;
  return rest;
}

/** What authentication resolves for a customer request. */
export interface Principal {
  keyId: string;
  keyName: string;
  keyDisplay: string;
  models: string[] | null;
  expiresAt: number | null;
  spendCapMicros: number | null;
  accountId: string;
  accountName: string;
  plan: string;
  /** The key's rate-limit overrides (key_limits), if any. */
  keyLimits?: { rpm: number | null; tpm: number | null; concurrency: number | null } | null;
}

type KeyAuthRow = {
  id: string; name: string; prefix: string; last4: string; models: string | null; expires_at: number | null;
  revoked_at: number | null; spend_cap_micros: number | null; account_id: string;
};
type AuthRow = KeyAuthRow & {
  account_name: string; plan: string; status: string;
  kl: { rpm: number | null; tpm: number | null; concurrency: number | null } | null;
};

/**
 * Resolves a presented key on the hot path: one indexed lookup by SHA-256, no write
 * (last-used times are batched by `KeyTouches`). Revocation and suspension apply on the next request.
 */
export class KeyAuthenticator {
  private readonly q: {
    key: Statement<KeyAuthRow, [string]>;
    account: Statement<{ name: string; plan: string; status: string }, [string]>;
    limits: Statement<{ rpm: number | null; tpm: number | null; concurrency: number | null }, [string]>;
  };
  private readonly lookup: { deferred(hash: string): AuthRow | null };
  private touches = new Map<string, number>();
  /** Rows of known keys by hash, re-read only when the database changed (see StampedMemo). */
  private readonly rows: StampedMemo<AuthRow | null>;

  constructor(private readonly db: Db, private readonly now: () => number = Date.now) {
    // Three single-table lookups in one read transaction: several times cheaper in SQLite than
    // the equivalent join (measured ~5 µs against ~27 µs per request).
    const c = db.$client;
    this.q = {
      key: c.query(
        "SELECT id, name, prefix, last4, models, expires_at, revoked_at, spend_cap_micros, account_id FROM api_keys WHERE hash = ?",
      ),
      account: c.query("SELECT name, plan, status FROM accounts WHERE id = ?"),
      limits: c.query("SELECT rpm, tpm, concurrency FROM key_limits WHERE key_id = ?"),
    };
    this.lookup = c.transaction((hash: string): AuthRow | null => {
      const k = this.q.key.get(hash);
      if (!k) return null;
      const a = this.q.account.get(k.account_id);
      if (!a) return null;
      const kl = this.q.limits.get(k.id);
      return { ...k, account_name: a.name, plan: a.plan, status: a.status, kl };
    });
    // Unknown keys are not remembered (no growth from guessed keys); the memo is bounded anyway.
    this.rows = new StampedMemo(db, (hash) => this.lookup.deferred(hash), { limit: MEMO_LIMIT, keep: (row) => row !== null });
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
    const stmt = this.db.$client.query("UPDATE api_keys SET last_used_at = ? WHERE id = ?");
    try {
      this.db.$client.transaction(() => {
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
const principals = new WeakMap<AuthRow, Principal>();
function principalOf(row: AuthRow): Principal {
  let p = principals.get(row);
  if (!p) {
    p = Object.freeze({
      keyId: row.id,
      keyName: row.name,
      keyDisplay: `${row.prefix}…${row.last4}`,
      models: row.models ? (JSON.parse(row.models) as string[]) : null,
      expiresAt: row.expires_at,
      spendCapMicros: row.spend_cap_micros,
      accountId: row.account_id,
      accountName: row.account_name,
      plan: row.plan,
      keyLimits: row.kl ? { rpm: row.kl.rpm, tpm: row.kl.tpm, concurrency: row.kl.concurrency } : null,
    });
    principals.set(row, p);
  }
  return p;
}

function maskKey(k: string): string {
  return k.length <= 8 ? "****" : `${k.slice(0, 6)}****${k.slice(-4)}`;
}
