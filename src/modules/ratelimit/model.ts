import { z } from "zod";

export const LimitsSchema = z.object({
  rpm: z.number().int().describe("Requests per minute (also the request burst)."),
  tpm: z.number().int().describe("Tokens per minute (also the token burst)."),
  concurrency: z.number().int().describe("Requests in flight at once."),
});

export const PlanView = z.object({ object: z.literal("plan"), name: z.string(), ...LimitsSchema.shape });

export const PlansList = z.object({
  object: z.literal("list"),
  default_plan: z.string(),
  data: z.array(PlanView),
  tiers: z.array(z.object({ min_lifetime_topup_micros: z.number().int(), plan: z.string() })),
});

export const AccountPlanView = z.object({
  object: z.literal("account_plan"),
  account_id: z.string(),
  plan: z.string().describe("The plan stored on the account."),
  effective_plan: z.string().describe("The plan applied (the default plan when the stored one is not configured)."),
  limits: LimitsSchema,
  lifetime_topup_micros: z.number().int(),
  next_tier: z.object({ plan: z.string(), min_lifetime_topup_micros: z.number().int() }).nullable(),
});

export const SetPlanBody = z.strictObject({ plan: z.string().min(1).max(64).describe("A configured plan name.") });

const Override = z.number().int().positive().nullable();

export const KeyLimitsBody = z.strictObject({
  rpm: Override.optional().describe("Omitted or null: the plan's value."),
  tpm: Override.optional().describe("Omitted or null: the plan's value."),
  concurrency: Override.optional().describe("Omitted or null: the plan's value."),
});

export const KeyLimitsView = z.object({
  object: z.literal("key_limits"),
  key_id: z.string(),
  account_id: z.string(),
  plan: z.string(),
  overrides: z.object({ rpm: z.number().int().nullable(), tpm: z.number().int().nullable(), concurrency: z.number().int().nullable() }),
  effective: LimitsSchema.describe("The key level's limits: the plan's, tightened by the overrides."),
});

/** The `limits` object of GET /v1/me. */
export const MeLimits = z.object({
  plan: z.string(),
  rpm: z.number().int(),
  tpm: z.number().int(),
  concurrency: z.number().int(),
  remaining: z.object({ requests: z.number().int(), tokens: z.number().int(), concurrency: z.number().int() }),
  reset: z.object({
    requests: z.string().describe("Until the request bucket is full again, e.g. 1s, 6m0s, 120ms."),
    tokens: z.string(),
  }),
});
