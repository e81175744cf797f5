import { desc, eq, sql } from "drizzle-orm";
import type { apiKeys } from "../../store/schema";
import type { Store } from "../../store/store";
import { all, get, run, type Q, type Work } from "../../store/work";
import { sha256Hex } from "../../lib/crypto";
import { LINE_HOPS } from "../../gateway/key-row";
import { errors } from "../../lib/errors";
import { newId, randomBase62 } from "../../lib/ids";
import { recordAudit } from "../audit/service";
import { accountRow } from "../accounts/service";
import { keyOwner } from "../../money/budgets";
import { MAX_BALANCE_MICROS, microsToUsd } from "../../money/units";
import type { Limits } from "../../gateway/limits/plans";
import { slotOf } from "../../gateway/limits/levels";
import type { BudgetT, CreateKeyInput, KeyViewT } from "./model";
import type { CreditStore } from "../../money/credit-store";
import type { RateLimiter } from "../../gateway/limits/limiter";

export type KeyRow = typeof apiKeys.$inferSelect;

export function generateKey(prefix: string): { key: string; hash: string; last4: string } {
  const key = `${prefix}${randomBase62(40)}`;
  return { key, hash: sha256Hex(key), last4: key.slice(-4) };
}

function toMillis(v: number | string | null | undefined): number | null {
  if (v == null) return null;
  return typeof v === "number" ? v * 1000 : Date.parse(v);
}

/** The key, or 404. */
export function* keyRow(q: Q, id: string): Work<KeyRow> {
  const row = yield* get(q.db.select().from(q.t.apiKeys).where(eq(q.t.apiKeys.id, id)));
  if (!row) throw errors.notFound(`API key ${id}`, "id");
  return row;
}

export const getKeyRow = (store: Store, id: string): Promise<KeyRow> => store.read((q) => keyRow(q, id));

/** Refuses an allow-list naming a model that is not configured: a key made or edited so would only ever get 404s for it. */
export function checkModels(models: readonly string[] | null | undefined, known: readonly string[]): void {
  const unknown = (models ?? []).filter((m) => !known.includes(m));
  if (unknown.length) throw errors.badRequest(`Unknown model: ${unknown.join(", ")}.`, "models", "model_not_found");
}

/**
 * Refuses a budget the API could not show (its schema allows 1 to MAX_BALANCE_MICROS): every
 * admin answer naming the key or member would then fail. Whoever calls, portal or CLI.
 */
export function checkBudget(budget: BudgetT | null | undefined): void {
  const n = budget?.amount_micros;
  if (n === undefined || (Number.isSafeInteger(n) && n > 0 && n <= MAX_BALANCE_MICROS)) return;
  throw errors.badRequest(`The budget must be a whole number of micros from 1 to ${MAX_BALANCE_MICROS} (${microsToUsd(MAX_BALANCE_MICROS)} USD).`, "budget.amount_micros");
}

/** Refuses rate-limit overrides above the account's plan: they could never apply, only mislead. */
export function checkLimits(o: Partial<Record<keyof Limits, number | null>>, plan: { name: string; limits: Limits }): void {
  for (const l of ["rpm", "tpm", "concurrency"] as const) {
    const v = o[l];
    if (v != null && v > plan.limits[l]) {
      throw errors.badRequest(`${l} ${v} is above the account's plan (${plan.name}: ${plan.limits[l]}); a key can only be limited further.`, l, "limit_above_plan");
    }
  }
}

/**
 * Creates a key (part of the caller's unit of work); `memberId` is who made it in the portal
 * (none: the owner's, e.g. made by the operator), `known` the configured model ids its allow-list
 * may name. The key itself is returned, never stored.
 */
export function* insertKey(
  q: Q,
  p: { prefix: string; accountId: string; input: CreateKeyInput; actor: string; memberId?: string | null; known?: readonly string[] },
  now: number,
): Work<{ row: KeyRow; key: string }> {
  const { input } = p;
  const expiresAt = toMillis(input.expires_at);
  if (expiresAt !== null && expiresAt <= now) throw errors.badRequest("expires_at must be in the future.", "expires_at");
  if (p.known) checkModels(input.models, p.known);
  checkBudget(input.budget);
  const { key, hash, last4 } = generateKey(p.prefix);
  const row: KeyRow = {
    id: newId("key"),
    accountId: p.accountId,
    name: input.name ?? "",
    hash,
    prefix: p.prefix,
    last4,
    models: input.models ?? null,
    expiresAt,
    spendCapMicros: input.spend_cap_micros ?? null,
    spentMicros: 0,
    revokedAt: null,
    rotatedTo: null,
    lastUsedAt: null,
    createdAt: now,
    memberId: p.memberId ?? null,
    budgetMicros: input.budget?.amount_micros ?? null,
    budgetPeriod: input.budget?.period ?? null,
  };
  yield* accountRow(q, p.accountId);
  yield* run(q.db.insert(q.t.apiKeys).values(row));
  yield* recordAudit(q, { actor: p.actor, action: "key.create", targetType: "api_key", targetId: row.id, after: redact(row) }, now);
  return { row, key };
}

/**
 * Creates a key; `memberId` is who made it in the portal (none: the owner's, e.g. made by the
 * operator); `known`, the configured model ids, refuses an allow-list naming any other.
 */
export function createKey(
  store: Store,
  prefix: string,
  accountId: string,
  input: CreateKeyInput,
  actor: string,
  now = Date.now(),
  memberId: string | null = null,
  known?: readonly string[],
): Promise<{ row: KeyRow; key: string }> {
  return store.tx((q) => insertKey(q, { prefix, accountId, input, actor, memberId, known }, now), { durable: true });
}

/** The account's keys, newest first. */
export function* accountKeys(q: Q, accountId: string): Work<KeyRow[]> {
  const k = q.t.apiKeys;
  return yield* all(q.db.select().from(k).where(eq(k.accountId, accountId)).orderBy(desc(k.createdAt), desc(k.id)));
}

export const listKeys = (store: Store, accountId: string): Promise<KeyRow[]> => store.read((q) => accountKeys(q, accountId));

/** Whether another key was rotated into this one (its cap is shared with them). */
export function keyReplaces(store: Store, keyId: string): Promise<boolean> {
  return store.read(function* (q) {
    const k = q.t.apiKeys;
    return (yield* get(q.db.select({ id: k.id }).from(k).where(eq(k.rotatedTo, keyId)).limit(1))) !== undefined;
  });
}

/**
 * A rotation by the serving process: its holds in flight on the old key move to the new one, so
 * the line's cap and budgets count them, and its rate-limit buckets go on (a rotation from
 * another process, the CLI, cannot).
 */
export async function rotateServedKey(
  deps: { store: Store; credits: Pick<CreditStore, "keyRotated">; limiter?: Pick<RateLimiter, "keyRotated"> },
  id: string,
  graceSeconds: number,
  actor: string,
  now: number,
): Promise<{ row: KeyRow; key: string }> {
  const rotated = await rotateKey(deps.store, id, graceSeconds, actor, now);
  deps.credits.keyRotated?.(id, rotated.row.id);
  deps.limiter?.keyRotated?.(id, rotated.row.id);
  return rotated;
}

/** Issues a replacement with the same settings; the old key expires after the grace period. */
export function rotateKey(store: Store, id: string, graceSeconds: number, actor: string, now = Date.now()): Promise<{ row: KeyRow; key: string }> {
  return store.tx((q) => rotation(q, id, graceSeconds, actor, now), { durable: true, notify: true });
}

function* rotation(q: Q, id: string, graceSeconds: number, actor: string, now: number): Work<{ row: KeyRow; key: string }> {
  const old = yield* keyRow(q, id);
  if (keyStatus(old, now) !== "active") throw errors.badRequest(`API key ${id} is no longer active.`, "id", "key_inactive");
  // A second replacement would split the line, each half with a fresh cap and budget.
  if (old.rotatedTo !== null) throw errors.conflict(`API key ${id} was already rotated (to ${old.rotatedTo}); rotate the newest key of its line.`, "key_rotated");
  yield* checkLineDepth(q, old, now);
  const { key, hash, last4 } = generateKey(old.prefix);
  // Same logical key with a new secret: it keeps what it spent, or rotation would reset its spend cap.
  const row: KeyRow = { ...old, id: newId("key"), hash, last4, lastUsedAt: null, createdAt: now, rotatedTo: null };
  yield* run(q.db.insert(q.t.apiKeys).values(row));
  // Its rate-limit overrides move with it, or rotation would lift them.
  const limits = yield* get(q.db.select().from(q.t.keyLimits).where(eq(q.t.keyLimits.keyId, id)));
  if (limits) yield* run(q.db.insert(q.t.keyLimits).values({ ...limits, keyId: row.id, updatedAt: now }));
  if (q.dialect === "postgres") yield* sharedBucketsMove(q, id, row.id);
  const oldExpiry = now + graceSeconds * 1000;
  const patch = graceSeconds === 0
    ? { revokedAt: now, rotatedTo: row.id }
    : { expiresAt: old.expiresAt === null ? oldExpiry : Math.min(old.expiresAt, oldExpiry), rotatedTo: row.id };
  yield* run(q.db.update(q.t.apiKeys).set(patch).where(eq(q.t.apiKeys.id, id)));
  // The line's budget spend moves with its spend (the newest key carries both).
  const spend = q.t.budgetSpend;
  if (old.rotatedTo === null) yield* run(q.db.update(spend).set({ owner: keyOwner(row.id) }).where(eq(spend.owner, keyOwner(id))));
  yield* recordAudit(q, { actor, action: "key.rotate", targetType: "api_key", targetId: id, before: redact(old), after: { ...patch, new_key_id: row.id } }, now);
  return { row, key };
}

/**
 * On PostgreSQL the line's rate-limit buckets are shared by every instance, under its newest key:
 * the new key takes them on as they are, or rotation would refill them (the embedded limiter moves
 * its own in memory: RateLimiter.keyRotated).
 */
function* sharedBucketsMove(q: Q, oldId: string, newId: string): Work<void> {
  const [from, to] = [slotOf("key", oldId), slotOf("key", newId)];
  yield* run(sql`INSERT INTO ratelimit_shared (id, level, per_minute, updated_at)
    SELECT ${to} || substr(id, ${from.length + 1}), level, per_minute, updated_at FROM ratelimit_shared WHERE id IN (${`${from}:r`}, ${`${from}:t`})
    ON CONFLICT (id) DO NOTHING`);
}

/**
 * A key still working further than LINE_HOPS rotations from the newest of its line would no
 * longer be found to share the line's cap and budget: it would spend with a copy of its own.
 */
function* checkLineDepth(q: Q, old: KeyRow, now: number): Work<void> {
  const k = q.t.apiKeys;
  const keys = yield* all(q.db.select({ id: k.id, rotatedTo: k.rotatedTo, revokedAt: k.revokedAt, expiresAt: k.expiresAt }).from(k).where(eq(k.accountId, old.accountId)));
  const before = new Map(keys.filter((r) => r.rotatedTo !== null).map((r) => [r.rotatedTo!, r]));
  let prev = before.get(old.id);
  // The rotation puts `old` one hop from the newest key; bounded by the account's keys (no cycle can loop).
  for (let hops = 2; prev && hops <= keys.length + 1; hops++) {
    if (hops > LINE_HOPS && keyStatus(prev, now) === "active") {
      throw errors.conflict(`API key ${prev.id} of this line still works and would be ${hops} rotations from the newest key (at most ${LINE_HOPS}): revoke it, or wait until it expires, then rotate.`, "rotation_limit");
    }
    prev = before.get(prev.id);
  }
}

export function revokeKey(store: Store, id: string, actor: string, now = Date.now()): Promise<KeyRow> {
  return store.tx(
    function* (q) {
      const old = yield* keyRow(q, id);
      if (old.revokedAt !== null) return old;
      const [row] = yield* all(q.db.update(q.t.apiKeys).set({ revokedAt: now }).where(eq(q.t.apiKeys.id, id)).returning());
      yield* recordAudit(q, { actor, action: "key.revoke", targetType: "api_key", targetId: id, before: redact(old), after: { revoked_at: now } }, now);
      return row!;
    },
    { durable: true, notify: true },
  );
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
