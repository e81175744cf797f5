import { desc, eq } from "drizzle-orm";
import type { SqliteStore } from "../../store/sqlite-store";
import { apiKeys } from "../../store/schema";
import { sha256Hex } from "../../lib/crypto";
import { errors } from "../../lib/errors";
import { newId, randomBase62 } from "../../lib/ids";
import { audit } from "../audit/service";
import { getAccountRowSync } from "../accounts/service";
import { keyOwner } from "../../money/budgets";
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

export function getKeyRow(store: SqliteStore, id: string): KeyRow {
  const row = store.db.select().from(apiKeys).where(eq(apiKeys.id, id)).get();
  if (!row) throw errors.notFound(`API key ${id}`, "id");
  return row;
}

/** Creates a key; `memberId` is who made it in the portal (none: the owner's, e.g. made by the operator). */
export function createKey(
  store: SqliteStore,
  prefix: string,
  accountId: string,
  input: CreateKeyInput,
  actor: string,
  now = Date.now(),
  memberId: string | null = null,
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
    memberId,
    budgetMicros: input.budget?.amount_micros ?? null,
    budgetPeriod: input.budget?.period ?? null,
  };
  store.durable(() => {
    getAccountRowSync(store, accountId);
    store.db.insert(apiKeys).values(row).run();
    audit(store, { actor, action: "key.create", targetType: "api_key", targetId: row.id, after: redact(row) }, now);
  });
  return { row, key };
}

export function listKeys(store: SqliteStore, accountId: string): KeyRow[] {
  return store.db.select().from(apiKeys).where(eq(apiKeys.accountId, accountId)).orderBy(desc(apiKeys.createdAt)).all();
}

/** Issues a replacement with the same settings; the old key expires after the grace period. */
export function rotateKey(store: SqliteStore, id: string, graceSeconds: number, actor: string, now = Date.now()): { row: KeyRow; key: string } {
  return store.durable(() => {
    const old = getKeyRow(store, id);
    if (keyStatus(old, now) !== "active") throw errors.badRequest(`API key ${id} is no longer active.`, "id", "key_inactive");
    const { key, hash, last4 } = generateKey(old.prefix);
    // Same logical key with a new secret: it keeps what it spent, or rotation would reset its spend cap.
    const row: KeyRow = { ...old, id: newId("key"), hash, last4, lastUsedAt: null, createdAt: now, rotatedTo: null };
    store.db.insert(apiKeys).values(row).run();
    // Its rate-limit overrides move with it, or rotation would lift them.
    store.sqlite
      .query("INSERT INTO key_limits (key_id, rpm, tpm, concurrency, updated_at) SELECT ?, rpm, tpm, concurrency, ? FROM key_limits WHERE key_id = ?")
      .run(row.id, now, id);
    const oldExpiry = now + graceSeconds * 1000;
    const patch = graceSeconds === 0
      ? { revokedAt: now, rotatedTo: row.id }
      : { expiresAt: old.expiresAt === null ? oldExpiry : Math.min(old.expiresAt, oldExpiry), rotatedTo: row.id };
    store.db.update(apiKeys).set(patch).where(eq(apiKeys.id, id)).run();
    // The line's budget spend moves with its spend (the newest key carries both).
    if (old.rotatedTo === null) store.sqlite.query("UPDATE budget_spend SET owner = ? WHERE owner = ?").run(keyOwner(row.id), keyOwner(id));
    audit(store, { actor, action: "key.rotate", targetType: "api_key", targetId: id, before: redact(old), after: { ...patch, new_key_id: row.id } }, now);
    return { row, key };
  });
}

export function revokeKey(store: SqliteStore, id: string, actor: string, now = Date.now()): KeyRow {
  return store.durable(() => {
    const old = getKeyRow(store, id);
    if (old.revokedAt !== null) return old;
    const row = store.db.update(apiKeys).set({ revokedAt: now }).where(eq(apiKeys.id, id)).returning().get()!;
    audit(store, { actor, action: "key.revoke", targetType: "api_key", targetId: id, before: redact(old), after: { revoked_at: now } }, now);
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
    member_id: k.memberId,
    budget: k.budgetMicros !== null && k.budgetPeriod !== null ? { period: k.budgetPeriod, amount_micros: k.budgetMicros } : null,
  };
}

export function redact(k: KeyRow) {
  const { hash: _h, ...rest } = k;
  return rest;
}
