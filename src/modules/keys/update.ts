import { eq } from "drizzle-orm";
import type { SqliteStore } from "../../store/sqlite-store";
import { accountMembers, apiKeys, keyLimits } from "../../store/schema";
import { errors } from "../../lib/errors";
import { effectivePlan, type Limits, type PlanPolicy } from "../../gateway/limits/plans";
import { getAccountRowSync } from "../accounts/service";
import { audit } from "../audit/service";
import type { UpdateKeyInput } from "./model";
import { getKeyRow, type KeyRow } from "./service";

export interface UpdateContext {
  actor: string;
  now: number;
  /** The configured plans: limits may never go above the account's. */
  policy: PlanPolicy;
  /** Configured model ids: an allow-list may name only these. */
  models: readonly string[];
}

type Overrides = { rpm: number | null; tpm: number | null; concurrency: number | null };
const LIMITS = ["rpm", "tpm", "concurrency"] as const;

/** The newest key of a rotation line: it carries the line's spend, cap and budget. */
export function newestOfLine(store: SqliteStore, key: KeyRow): KeyRow {
  let k = key;
  for (let hops = 0; k.rotatedTo && hops < 32; hops++) k = getKeyRow(store, k.rotatedTo);
  return k;
}

/**
 * Changes a key in one audited transaction (before and after): name, models, expiry and rate
 * limits on the key itself; the spending cap and budget on the newest key of its rotation line,
 * which carries the line's spend. Applies from the next request (the write moves the change
 * stamp every memo checks). A revoked key, or a removed member's, cannot be changed.
 */
export function updateKey(store: SqliteStore, id: string, input: UpdateKeyInput, c: UpdateContext): KeyRow {
  return store.durable(() => {
    const key = getKeyRow(store, id);
    if (key.revokedAt !== null) throw errors.badRequest(`API key ${id} is revoked: it cannot be changed.`, "id", "key_inactive");
    if (key.memberId && store.db.select().from(accountMembers).where(eq(accountMembers.id, key.memberId)).get()?.removedAt != null) {
      throw errors.badRequest(`API key ${id} belongs to a removed member: it cannot be changed.`, "id", "key_inactive");
    }
    const plan = effectivePlan(c.policy, getAccountRowSync(store, key.accountId).plan);
    check(input, plan, c);
    const line = newestOfLine(store, key);
    const own: Partial<KeyRow> = {};
    if (input.name !== undefined) own.name = input.name;
    if (input.models !== undefined) own.models = input.models;
    if (input.expires_at !== undefined) own.expiresAt = toMillis(input.expires_at);
    const lineSet: Partial<KeyRow> = {};
    if (input.spend_cap_micros !== undefined) lineSet.spendCapMicros = input.spend_cap_micros;
    if (input.budget !== undefined) {
      lineSet.budgetMicros = input.budget?.amount_micros ?? null;
      lineSet.budgetPeriod = input.budget?.period ?? null;
    }
    const before: Record<string, unknown> = { ...pick(key, own), ...pick(line, lineSet) };
    const after: Record<string, unknown> = { ...own, ...lineSet };
    if (Object.keys(own).length) store.db.update(apiKeys).set(own).where(eq(apiKeys.id, key.id)).run();
    if (Object.keys(lineSet).length) store.db.update(apiKeys).set(lineSet).where(eq(apiKeys.id, line.id)).run();
    const limits = setLimits(store, key.id, input, c.now);
    if (limits) (before.limits = limits.before), (after.limits = limits.after);
    if (Object.keys(after).length === 0) return key;
    if (line.id !== key.id && Object.keys(lineSet).length) after.line_key_id = line.id;
    audit(store, { actor: c.actor, action: "key.update", targetType: "api_key", targetId: key.id, before, after }, c.now);
    return getKeyRow(store, key.id);
  });
}

/** Refuses what the key may not be given: a past expiry, unknown models, limits above the plan. */
function check(input: UpdateKeyInput, plan: { name: string; limits: Limits }, c: UpdateContext): void {
  const expires = toMillis(input.expires_at);
  if (expires !== null && expires <= c.now) throw errors.badRequest("expires_at must be in the future.", "expires_at");
  const unknown = (input.models ?? []).filter((m) => !c.models.includes(m));
  if (unknown.length) throw errors.badRequest(`Unknown model: ${unknown.join(", ")}.`, "models", "model_not_found");
  for (const l of LIMITS) {
    const v = input[l];
    if (v != null && v > plan.limits[l]) {
      throw errors.badRequest(`${l} ${v} is above the account's plan (${plan.name}: ${plan.limits[l]}); a key can only be limited further.`, l, "limit_above_plan");
    }
  }
}

/** Applies the limit fields given (null = the plan's value); null when none was given or nothing changed. */
function setLimits(store: SqliteStore, keyId: string, input: UpdateKeyInput, now: number): { before: Overrides; after: Overrides } | null {
  if (LIMITS.every((l) => input[l] === undefined)) return null;
  const row = store.db.select().from(keyLimits).where(eq(keyLimits.keyId, keyId)).get();
  const before: Overrides = { rpm: row?.rpm ?? null, tpm: row?.tpm ?? null, concurrency: row?.concurrency ?? null };
  const after: Overrides = { ...before };
  for (const l of LIMITS) if (input[l] !== undefined) after[l] = input[l];
  if (LIMITS.every((l) => before[l] === after[l])) return null;
  if (LIMITS.every((l) => after[l] === null)) store.db.delete(keyLimits).where(eq(keyLimits.keyId, keyId)).run();
  else {
    const values = { ...after, updatedAt: now };
    store.db.insert(keyLimits).values({ keyId, ...values }).onConflictDoUpdate({ target: keyLimits.keyId, set: values }).run();
  }
  return { before, after };
}

/** The key's rate-limit overrides (null: the plan's value). */
export function keyOverrides(store: SqliteStore, keyId: string): Overrides {
  const row = store.db.select().from(keyLimits).where(eq(keyLimits.keyId, keyId)).get();
  return { rpm: row?.rpm ?? null, tpm: row?.tpm ?? null, concurrency: row?.concurrency ?? null };
}

function toMillis(v: number | string | null | undefined): number | null {
  if (v == null) return null;
  return typeof v === "number" ? v * 1000 : Date.parse(v);
}

function pick(row: Record<string, unknown>, keys: Record<string, unknown>) {
  return Object.fromEntries(Object.keys(keys).map((k) => [k, row[k]]));
}
