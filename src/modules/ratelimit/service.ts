import { eq, gte } from "drizzle-orm";
import type { SqliteStore } from "../../store/sqlite-store";
import { ratelimitBuckets } from "../../store/schema";
import type { Store } from "../../store/store";
import { all, get, run, type Q, type Work } from "../../store/work";
import { accountRow, checkPlan } from "../accounts/service";
import { recordAudit } from "../audit/service";
import { checkLimits, keyRow, type KeyRow } from "../keys/service";
import { errors } from "../../lib/errors";
import type { BucketRow, BucketStore } from "../../gateway/limits/bucket-limiter";
import { effectivePlan, keyLevel, tierTarget, type KeyOverrides, type Limits, type PlanPolicy } from "../../gateway/limits/plans";

const POLICY_SETTING = "ratelimit_policy";

/**
 * Bucket snapshots in table ratelimit_buckets (fast write: synchronous=NORMAL survives kill -9).
 * SQLite-only by nature: the limiter saves them synchronously from the request path's timers.
 */
export function sqliteBucketStore(store: SqliteStore): BucketStore {
  const upsert = store.sqlite.query(
    `INSERT INTO ratelimit_buckets (id, level, per_minute, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET level = excluded.level, per_minute = excluded.per_minute, updated_at = excluded.updated_at`,
  );
  const del = store.sqlite.query("DELETE FROM ratelimit_buckets WHERE id = ?");
  return {
    load: () => store.db.select().from(ratelimitBuckets).all(),
    save(upserts: BucketRow[], deletes: string[]) {
      if (upserts.length === 0 && deletes.length === 0) return;
      store.write(() => {
        for (const r of upserts) upsert.run(r.id, r.level, r.perMinute, r.updatedAt);
        for (const id of deletes) del.run(id);
      });
    },
  };
}

/** The stored policy's JSON, if any. */
function* storedValue(q: Q): Work<string | null> {
  return (yield* get(q.db.select().from(q.t.settings).where(eq(q.t.settings.key, POLICY_SETTING))))?.value ?? null;
}

/** Writes the policy and promotes the accounts its tiers now qualify; how many moved. */
function* writePolicy(q: Q, value: string, policy: PlanPolicy, now: number): Work<number> {
  const s = q.t.settings;
  yield* run(q.db.insert(s).values({ key: POLICY_SETTING, value }).onConflictDoUpdate({ target: s.key, set: { value } }));
  if (policy.tiers.length === 0) return 0;
  const a = q.t.accounts;
  const candidates = yield* all(q.db.select({ id: a.id }).from(a).where(gte(a.lifetimeTopupMicros, policy.tiers[0]!.min_lifetime_topup_micros)).orderBy(a.id));
  let moved = 0;
  for (const c of candidates) if (yield* applyTier(q, c.id, "system", now)) moved++;
  return moved;
}

const policyValue = (policy: PlanPolicy) => JSON.stringify({ plans: policy.plans, default_plan: policy.default_plan, tiers: policy.tiers });

/**
 * Stores the configured plans and tiers in the database, so that every path that adds credits
 * (admin route, CLI, codes, payments) can apply tiers inside its own transaction without being
 * handed the configuration. Then promotes accounts the (possibly changed) tiers now qualify.
 */
export async function installPolicy(store: Store, policy: PlanPolicy, now = Date.now()): Promise<number> {
  const value = policyValue(policy);
  // Unchanged since the last start: every top-up since then applied the tiers itself, so there
  // is nothing to write (and no fsync to wait for on the way to listening).
  if ((await store.read(storedValue)) === value) return 0;
  return store.tx((q) => writePolicy(q, value, policy, now), { durable: true, notify: true });
}

/** installPolicy for the SQLite start-up (buildRuntime), which is synchronous until it runs over Store. */
export function installPolicySync(store: SqliteStore, policy: PlanPolicy, now = Date.now()): number {
  const value = policyValue(policy);
  if (store.readSync(storedValue) === value) return 0;
  return store.txSync((q) => writePolicy(q, value, policy, now), { durable: true });
}

function* storedPolicy(q: Q): Work<PlanPolicy | null> {
  const value = yield* storedValue(q);
  return value ? (JSON.parse(value) as PlanPolicy) : null;
}

/**
 * Moves the account up to the plan its lifetime top-ups qualify for (usage tiers), audited.
 * Part of the unit of work that changed lifetime_topup_micros. Returns the new plan, or null.
 */
export function* applyTier(q: Q, accountId: string, actor: string, now: number): Work<string | null> {
  const policy = yield* storedPolicy(q);
  if (!policy || policy.tiers.length === 0) return null;
  const account = yield* accountRow(q, accountId);
  const target = tierTarget(policy, account.plan, account.lifetimeTopupMicros);
  if (!target) return null;
  yield* run(q.db.update(q.t.accounts).set({ plan: target }).where(eq(q.t.accounts.id, accountId)));
  yield* recordAudit(q, {
    actor,
    action: "account.tier",
    targetType: "account",
    targetId: accountId,
    before: { plan: account.plan },
    after: { plan: target, lifetime_topup_micros: account.lifetimeTopupMicros },
  }, now);
  return target;
}


export interface AccountPlan {
  accountId: string;
  /** As stored on the account. */
  plan: string;
  /** The plan applied (the default plan when the stored one is not configured). */
  effective: string;
  limits: Limits;
  lifetimeTopupMicros: number;
  /** The next usage tier up, if any. */
  nextTier: { plan: string; minLifetimeTopupMicros: number } | null;
}

export function* accountPlan(q: Q, policy: PlanPolicy, accountId: string): Work<AccountPlan> {
  const a = yield* accountRow(q, accountId);
  const eff = effectivePlan(policy, a.plan);
  const next = policy.tiers.find(
    (t) => t.min_lifetime_topup_micros > a.lifetimeTopupMicros && tierTarget(policy, a.plan, t.min_lifetime_topup_micros) === t.plan,
  );
  return {
    accountId: a.id,
    plan: a.plan,
    effective: eff.name,
    limits: eff.limits,
    lifetimeTopupMicros: a.lifetimeTopupMicros,
    nextTier: next ? { plan: next.plan, minLifetimeTopupMicros: next.min_lifetime_topup_micros } : null,
  };
}

export const getAccountPlan = (store: Store, policy: PlanPolicy, accountId: string): Promise<AccountPlan> =>
  store.read((q) => accountPlan(q, policy, accountId));

/**
 * Moves an account to a configured plan, audited. The plan it has already is a read, as every
 * other admin no-op: no write, no audit entry, no durable commit, no change notice to the other
 * instances. The row is compared again in the transaction, which a change raced.
 */
export async function setAccountPlan(store: Store, policy: PlanPolicy, accountId: string, plan: string, actor: string, now = Date.now()): Promise<AccountPlan> {
  checkPlan(policy, plan);
  const current = await getAccountPlan(store, policy, accountId);
  if (current.plan === plan) return current;
  return store.tx(function* (q) {
    const before = yield* accountRow(q, accountId);
    if (before.plan !== plan) {
      yield* run(q.db.update(q.t.accounts).set({ plan }).where(eq(q.t.accounts.id, accountId)));
      yield* recordAudit(q, { actor, action: "account.plan", targetType: "account", targetId: accountId, before: { plan: before.plan }, after: { plan } }, now);
    }
    return yield* accountPlan(q, policy, accountId);
  }, { durable: true, notify: true });
}

export interface KeyLimitsState {
  keyId: string;
  accountId: string;
  plan: string;
  overrides: KeyOverrides;
  /** The key level's limits: the plan's, tightened by the overrides. */
  effective: Limits;
}

const NO_OVERRIDES: KeyOverrides = { rpm: null, tpm: null, concurrency: null };

function* readOverrides(q: Q, keyId: string): Work<KeyOverrides> {
  const row = yield* get(q.db.select().from(q.t.keyLimits).where(eq(q.t.keyLimits.keyId, keyId)));
  return row ? { rpm: row.rpm, tpm: row.tpm, concurrency: row.concurrency } : { ...NO_OVERRIDES };
}

function* keyLimitsOf(q: Q, policy: PlanPolicy, keyId: string): Work<KeyLimitsState> {
  const key = yield* keyRow(q, keyId);
  const plan = effectivePlan(policy, (yield* accountRow(q, key.accountId)).plan);
  const overrides = yield* readOverrides(q, keyId);
  return { keyId, accountId: key.accountId, plan: plan.name, overrides, effective: keyLevel(plan.limits, overrides) };
}

export const getKeyLimits = (store: Store, policy: PlanPolicy, keyId: string): Promise<KeyLimitsState> =>
  store.read((q) => keyLimitsOf(q, policy, keyId));

/** The key, unless revoked or a removed member's: refused as PATCH /admin/keys/:id refuses it (key_inactive). */
function* changeableKey(q: Q, keyId: string): Work<KeyRow> {
  const key = yield* keyRow(q, keyId);
  if (key.revokedAt !== null) throw errors.badRequest(`API key ${keyId} is revoked: it cannot be changed.`, "id", "key_inactive");
  const m = q.t.accountMembers;
  if (key.memberId && (yield* get(q.db.select().from(m).where(eq(m.id, key.memberId))))?.removedAt != null) {
    throw errors.badRequest(`API key ${keyId} belongs to a removed member: it cannot be changed.`, "id", "key_inactive");
  }
  return key;
}

/**
 * Replaces a key's overrides (all null removes them); applies from the key's next request. Above
 * the account's plan is refused, as PATCH /admin/keys/:id does: such an override never applies.
 */
export function setKeyLimits(store: Store, policy: PlanPolicy, keyId: string, o: KeyOverrides, actor: string, now = Date.now()): Promise<KeyLimitsState> {
  return store.tx(function* (q) {
    const key = yield* changeableKey(q, keyId);
    checkLimits(o, effectivePlan(policy, (yield* accountRow(q, key.accountId)).plan));
    const before = yield* readOverrides(q, keyId);
    if (before.rpm !== o.rpm || before.tpm !== o.tpm || before.concurrency !== o.concurrency) {
      const kl = q.t.keyLimits;
      if (o.rpm === null && o.tpm === null && o.concurrency === null) {
        yield* run(q.db.delete(kl).where(eq(kl.keyId, keyId)));
      } else {
        const values = { rpm: o.rpm, tpm: o.tpm, concurrency: o.concurrency, updatedAt: now };
        yield* run(q.db.insert(kl).values({ keyId, ...values }).onConflictDoUpdate({ target: kl.keyId, set: values }));
      }
      yield* recordAudit(q, { actor, action: "key.limits", targetType: "api_key", targetId: keyId, before, after: o }, now);
    }
    return yield* keyLimitsOf(q, policy, keyId);
  }, { durable: true, notify: true });
}
