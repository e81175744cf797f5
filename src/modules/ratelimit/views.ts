import type { AccountPlan, KeyLimitsState } from "./service";

/** The JSON of an account's plan (GET /admin/accounts/:id/plan, `tollgate accounts plan`). */
export const planView = (p: AccountPlan) => ({
  object: "account_plan" as const,
  account_id: p.accountId,
  plan: p.plan,
  effective_plan: p.effective,
  limits: p.limits,
  lifetime_topup_micros: p.lifetimeTopupMicros,
  next_tier: p.nextTier && { plan: p.nextTier.plan, min_lifetime_topup_micros: p.nextTier.minLifetimeTopupMicros },
});

/** The JSON of a key's limits (GET /admin/keys/:id/limits, `tollgate keys limits`). */
export const keyLimitsView = (k: KeyLimitsState) => ({
  object: "key_limits" as const,
  key_id: k.keyId,
  account_id: k.accountId,
  plan: k.plan,
  overrides: k.overrides,
  effective: k.effective,
});
