import { eq, gte } from "drizzle-orm";
import type { SqliteStore } from "../../store/sqlite-store";
import { accounts, keyLimits, ratelimitBuckets, settings } from "../../store/schema";
import { errors } from "../../lib/errors";
import { getAccountRowSync } from "../accounts/service";
import { audit } from "../audit/service";
import { getKeyRow } from "../keys/service";
import type { BucketRow, BucketStore } from "../../gateway/limits/bucket-limiter";
import { effectivePlan, isPlan, keyLevel, tierTarget, type KeyOverrides, type Limits, type PlanPolicy } from "../../gateway/limits/plans";

const POLICY_SETTING = "ratelimit_policy";

/** Bucket snapshots in table ratelimit_buckets (fast write: synchronous=NORMAL survives kill -9). */
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

/**
 * Stores the configured plans and tiers in the database, so that every path that adds credits
 * (admin route, CLI, codes, payments) can apply tiers inside its own transaction without being
 * handed the configuration. Then promotes accounts the (possibly changed) tiers now qualify.
 */
export function installPolicy(store: SqliteStore, policy: PlanPolicy, now = Date.now()): number {
  const value = JSON.stringify({ plans: policy.plans, default_plan: policy.default_plan, tiers: policy.tiers });
  // Unchanged since the last start: every top-up since then applied the tiers itself, so there
  // is nothing to write (and no fsync to wait for on the way to listening).
  if (store.db.select().from(settings).where(eq(settings.key, POLICY_SETTING)).get()?.value === value) return 0;
  return store.durable(() => {
    store.db.insert(settings).values({ key: POLICY_SETTING, value }).onConflictDoUpdate({ target: settings.key, set: { value } }).run();
    if (policy.tiers.length === 0) return 0;
    const candidates = store.db
      .select({ id: accounts.id })
      .from(accounts)
      .where(gte(accounts.lifetimeTopupMicros, policy.tiers[0]!.min_lifetime_topup_micros))
      .all();
    let moved = 0;
    for (const a of candidates) if (applyTier(store, a.id, "system", now)) moved++;
    return moved;
  });
}

function storedPolicy(store: SqliteStore): PlanPolicy | null {
  const row = store.db.select().from(settings).where(eq(settings.key, POLICY_SETTING)).get();
  return row ? (JSON.parse(row.value) as PlanPolicy) : null;
}

/**
 * Moves the account up to the plan its lifetime top-ups qualify for (usage tiers), audited.
 * Call inside the transaction that changed lifetime_topup_micros. Returns the new plan, or null.
 */
export function applyTier(store: SqliteStore, accountId: string, actor: string, now = Date.now()): string | null {
  const policy = storedPolicy(store);
  if (!policy || policy.tiers.length === 0) return null;
  const account = getAccountRowSync(store, accountId);
  const target = tierTarget(policy, account.plan, account.lifetimeTopupMicros);
  if (!target) return null;
  store.db.update(accounts).set({ plan: target }).where(eq(accounts.id, accountId)).run();
  audit(store, {
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

export function getAccountPlan(store: SqliteStore, policy: PlanPolicy, accountId: string): AccountPlan {
  const a = getAccountRowSync(store, accountId);
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

export function setAccountPlan(store: SqliteStore, policy: PlanPolicy, accountId: string, plan: string, actor: string, now = Date.now()): AccountPlan {
  if (!isPlan(policy, plan)) {
    throw errors.badRequest(`Unknown plan ${JSON.stringify(plan)}; configured plans: ${Object.keys(policy.plans).join(", ")}.`, "plan", "unknown_plan");
  }
  store.durable(() => {
    const before = getAccountRowSync(store, accountId);
    if (before.plan === plan) return;
    store.db.update(accounts).set({ plan }).where(eq(accounts.id, accountId)).run();
    audit(store, { actor, action: "account.plan", targetType: "account", targetId: accountId, before: { plan: before.plan }, after: { plan } }, now);
  });
  return getAccountPlan(store, policy, accountId);
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

function readOverrides(store: SqliteStore, keyId: string): KeyOverrides {
  const row = store.db.select().from(keyLimits).where(eq(keyLimits.keyId, keyId)).get();
  return row ? { rpm: row.rpm, tpm: row.tpm, concurrency: row.concurrency } : { ...NO_OVERRIDES };
}

export function getKeyLimits(store: SqliteStore, policy: PlanPolicy, keyId: string): KeyLimitsState {
  const key = getKeyRow(store, keyId);
  const plan = effectivePlan(policy, getAccountRowSync(store, key.accountId).plan);
  const overrides = readOverrides(store, keyId);
  return { keyId, accountId: key.accountId, plan: plan.name, overrides, effective: keyLevel(plan.limits, overrides) };
}

/** Replaces a key's overrides (all null removes them); applies from the key's next request. */
export function setKeyLimits(store: SqliteStore, policy: PlanPolicy, keyId: string, o: KeyOverrides, actor: string, now = Date.now()): KeyLimitsState {
  store.durable(() => {
    getKeyRow(store, keyId);
    const before = readOverrides(store, keyId);
    if (before.rpm === o.rpm && before.tpm === o.tpm && before.concurrency === o.concurrency) return;
    if (o.rpm === null && o.tpm === null && o.concurrency === null) {
      store.db.delete(keyLimits).where(eq(keyLimits.keyId, keyId)).run();
    } else {
      const values = { rpm: o.rpm, tpm: o.tpm, concurrency: o.concurrency, updatedAt: now };
      store.db.insert(keyLimits).values({ keyId, ...values }).onConflictDoUpdate({ target: keyLimits.keyId, set: values }).run();
    }
    audit(store, { actor, action: "key.limits", targetType: "api_key", targetId: keyId, before, after: o }, now);
  });
  return getKeyLimits(store, policy, keyId);
}
