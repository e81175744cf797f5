import type { Config } from "../../config/load";

/** Limits of one level (key or account). */
export interface Limits {
  rpm: number;
  tpm: number;
  concurrency: number;
}

/** Per-key overrides; null keeps the plan's value. */
export interface KeyOverrides {
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
}

export type PlanPolicy = Pick<Config, "plans" | "default_plan" | "tiers">;

export const isPlan = (policy: PlanPolicy, name: string): boolean => Object.hasOwn(policy.plans, name);

/** The plan that applies to an account: its own if configured, else the default plan. */
export function effectivePlan(policy: PlanPolicy, name: string): { name: string; limits: Limits } {
  const plan = isPlan(policy, name) ? name : policy.default_plan;
  const l = policy.plans[plan]!;
  return { name: plan, limits: { rpm: l.rpm, tpm: l.tpm, concurrency: l.concurrency } };
}

/** Key-level limits: the plan's, tightened by the key's overrides (overrides never loosen). */
export function keyLevel(plan: Limits, o: KeyOverrides | null | undefined): Limits {
  return {
    rpm: Math.min(plan.rpm, o?.rpm ?? Infinity),
    tpm: Math.min(plan.tpm, o?.tpm ?? Infinity),
    concurrency: Math.min(plan.concurrency, o?.concurrency ?? Infinity),
  };
}

/**
 * The plan usage tiers move an account to, or null to leave it alone. Tiers only move up, and only
 * accounts on the default plan or on a tier plan: a plan an operator chose that is not a tier
 * (e.g. "enterprise") is never changed automatically.
 */
export function tierTarget(policy: PlanPolicy, currentPlan: string, lifetimeTopupMicros: number): string | null {
  const tiers = policy.tiers;
  if (tiers.length === 0) return null;
  const current = isPlan(policy, currentPlan) ? currentPlan : policy.default_plan;
  let rank = -2;
  tiers.forEach((t, i) => {
    if (t.plan === current) rank = i;
  });
  if (rank === -2) {
    if (current !== policy.default_plan) return null;
    rank = -1;
  }
  let target = -1;
  tiers.forEach((t, i) => {
    if (lifetimeTopupMicros >= t.min_lifetime_topup_micros) target = i;
  });
  return target > rank && tiers[target]!.plan !== currentPlan ? tiers[target]!.plan : null;
}
