import { eq } from "drizzle-orm";
import type { Store } from "../../store/store";
import { get, run, type Q, type Work } from "../../store/work";
import { errors } from "../../lib/errors";
import { LINE_HOPS } from "../../gateway/key-row";
import { effectivePlan, type Limits, type PlanPolicy } from "../../gateway/limits/plans";
import { accountRow } from "../accounts/service";
import { recordAudit } from "../audit/service";
import type { UpdateKeyInput } from "./model";
import { checkBudget, checkLimits, checkModels, keyRow, type KeyRow } from "./service";

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
export function* lineHead(q: Q, key: KeyRow): Work<KeyRow> {
  let k = key;
  for (let hops = 0; k.rotatedTo && hops < LINE_HOPS; hops++) k = yield* keyRow(q, k.rotatedTo);
  return k;
}

export const newestOfLine = (store: Store, key: KeyRow): Promise<KeyRow> => store.read((q) => lineHead(q, key));

/**
 * Changes a key in one audited transaction (before and after): name, models, expiry and rate
 * limits on the key itself; the spending cap and budget on the newest key of its rotation line,
 * which carries the line's spend. Applies from the next request (the commit tells every instance
 * to re-read its keys). A revoked key, or a removed member's, cannot be changed.
 */
export function updateKey(store: Store, id: string, input: UpdateKeyInput, c: UpdateContext): Promise<KeyRow> {
  return store.tx((q) => keyUpdate(q, id, input, c), { durable: true, notify: true });
}

function* keyUpdate(q: Q, id: string, input: UpdateKeyInput, c: UpdateContext): Work<KeyRow> {
  const key = yield* keyRow(q, id);
  if (key.revokedAt !== null) throw errors.badRequest(`API key ${id} is revoked: it cannot be changed.`, "id", "key_inactive");
  const m = q.t.accountMembers;
  if (key.memberId && (yield* get(q.db.select().from(m).where(eq(m.id, key.memberId))))?.removedAt != null) {
    throw errors.badRequest(`API key ${id} belongs to a removed member: it cannot be changed.`, "id", "key_inactive");
  }
  if (key.rotatedTo !== null && input.expires_at !== undefined) {
    // Its grace was given when it was rotated: a later end (or none) would keep the old secret alive.
    const next = toMillis(input.expires_at);
    if (next === null || key.expiresAt === null || next > key.expiresAt) {
      throw errors.badRequest(`API key ${id} was rotated: its grace can end sooner, never later.`, "expires_at", "key_rotated");
    }
  }
  const plan = effectivePlan(c.policy, (yield* accountRow(q, key.accountId)).plan);
  check(input, plan, c);
  const line = yield* lineHead(q, key);
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
  const k = q.t.apiKeys;
  if (Object.keys(own).length) yield* run(q.db.update(k).set(own).where(eq(k.id, key.id)));
  if (Object.keys(lineSet).length) yield* run(q.db.update(k).set(lineSet).where(eq(k.id, line.id)));
  const limits = yield* setLimits(q, key.id, input, c.now);
  if (limits) (before.limits = limits.before), (after.limits = limits.after);
  if (Object.keys(after).length === 0) return key;
  if (line.id !== key.id && Object.keys(lineSet).length) after.line_key_id = line.id;
  yield* recordAudit(q, { actor: c.actor, action: "key.update", targetType: "api_key", targetId: key.id, before, after }, c.now);
  return yield* keyRow(q, key.id);
}

/** Refuses what the key may not be given: a past expiry, unknown models, limits above the plan, a budget out of range. */
function check(input: UpdateKeyInput, plan: { name: string; limits: Limits }, c: UpdateContext): void {
  const expires = toMillis(input.expires_at);
  if (expires !== null && expires <= c.now) throw errors.badRequest("expires_at must be in the future.", "expires_at");
  checkModels(input.models, c.models);
  checkLimits(input, plan);
  checkBudget(input.budget);
}

/** Applies the limit fields given (null = the plan's value); null when none was given or nothing changed. */
function* setLimits(q: Q, keyId: string, input: UpdateKeyInput, now: number): Work<{ before: Overrides; after: Overrides } | null> {
  if (LIMITS.every((l) => input[l] === undefined)) return null;
  const before = yield* overridesOf(q, keyId);
  const after: Overrides = { ...before };
  for (const l of LIMITS) if (input[l] !== undefined) after[l] = input[l];
  if (LIMITS.every((l) => before[l] === after[l])) return null;
  const kl = q.t.keyLimits;
  if (LIMITS.every((l) => after[l] === null)) yield* run(q.db.delete(kl).where(eq(kl.keyId, keyId)));
  else {
    const values = { ...after, updatedAt: now };
    yield* run(q.db.insert(kl).values({ keyId, ...values }).onConflictDoUpdate({ target: kl.keyId, set: values }));
  }
  return { before, after };
}

/** The key's rate-limit overrides (null: the plan's value). */
export function* overridesOf(q: Q, keyId: string): Work<Overrides> {
  const row = yield* get(q.db.select().from(q.t.keyLimits).where(eq(q.t.keyLimits.keyId, keyId)));
  return { rpm: row?.rpm ?? null, tpm: row?.tpm ?? null, concurrency: row?.concurrency ?? null };
}

export const keyOverrides = (store: Store, keyId: string): Promise<Overrides> => store.read((q) => overridesOf(q, keyId));

function toMillis(v: number | string | null | undefined): number | null {
  if (v == null) return null;
  return typeof v === "number" ? v * 1000 : Date.parse(v);
}

function pick(row: Record<string, unknown>, keys: Record<string, unknown>) {
  return Object.fromEntries(Object.keys(keys).map((k) => [k, row[k]]));
}
