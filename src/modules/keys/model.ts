import { z } from "zod";
import { BUDGET_PERIODS } from "../../money/budget-clock";

/** Unix seconds, or an ISO 8601 date-time. */
export const Timestamp = z.union([
  z.number().int().positive().describe("Unix seconds"),
  z.iso.datetime({ offset: true }).describe("ISO 8601"),
]);

/** A budget per period, which resets at the period's start in budget_timezone. */
export const Budget = z.strictObject({
  period: z.enum(BUDGET_PERIODS).describe("day, week (from Monday) or month (from the 1st), in budget_timezone"),
  amount_micros: z.number().int().positive().max(1e15).describe("USD × 1,000,000 the key (or member) may spend per period"),
});

export const CreateKeyBody = z.object({
  name: z.string().max(200).optional(),
  models: z.array(z.string().min(1)).min(1).nullable().optional().describe("Allowed model ids; omitted or null = all."),
  expires_at: Timestamp.nullable().optional(),
  spend_cap_micros: z.number().int().positive().nullable().optional(),
  budget: Budget.nullable().optional().describe("A budget per day, week or month besides the lifetime cap; null = none."),
});

const Limit = z.number().int().positive().max(1e9).nullable().optional();

/** What PATCH /admin/keys/:id changes: every field optional (absent = unchanged, null = removed). */
export const UpdateKeyBody = z.strictObject({
  name: z.string().max(200).optional(),
  models: z.array(z.string().min(1)).min(1).nullable().optional().describe("Allowed model ids; null = all."),
  expires_at: Timestamp.nullable().optional().describe("null = never"),
  spend_cap_micros: z.number().int().positive().nullable().optional().describe("Lifetime cap of the key's rotation line (set on its newest key)."),
  rpm: Limit.describe("Key override (null = the plan's); never above the account's plan."),
  tpm: Limit,
  concurrency: Limit,
  budget: Budget.nullable().optional().describe("Budget of the key's rotation line (set on its newest key); null = none."),
});

export const RotateKeyBody = z.object({
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 86400)
    .default(0)
    .describe("How long the old key stays valid; 0 = revoked at once."),
});

export const KeyView = z.object({
  id: z.string(),
  object: z.literal("api_key"),
  account_id: z.string(),
  name: z.string(),
  display: z.string().describe("Prefix and last four characters, e.g. sk-tg-…a1B2."),
  models: z.array(z.string()).nullable(),
  expires_at: z.number().int().nullable(),
  spend_cap_micros: z.number().int().nullable(),
  spent_micros: z.number().int(),
  status: z.enum(["active", "expired", "revoked"]),
  revoked_at: z.number().int().nullable(),
  rotated_to: z.string().nullable(),
  last_used_at: z.number().int().nullable(),
  created_at: z.number().int(),
  member_id: z.string().nullable().describe("The member who created it; null = the account's owner."),
  budget: Budget.nullable(),
  limits: z.object({ rpm: z.number().int().nullable(), tpm: z.number().int().nullable(), concurrency: z.number().int().nullable() })
    .optional().describe("The key's rate-limit overrides (null = the plan's), in PATCH answers (else GET /admin/keys/:id/limits)."),
});

export const CreatedKey = KeyView.extend({
  key: z.string().describe("The secret key. Shown only once: store it now."),
});

export const KeyList = z.object({ object: z.literal("list"), data: z.array(KeyView) });

export type CreateKeyInput = z.infer<typeof CreateKeyBody>;
export type UpdateKeyInput = z.infer<typeof UpdateKeyBody>;
export type BudgetT = z.infer<typeof Budget>;
export type KeyViewT = z.infer<typeof KeyView>;
