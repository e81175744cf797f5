import { z } from "zod";
import { BUDGET_PERIODS } from "../../money/budget-clock";
import { hasControl, hasVisible, NAME_MAX } from "../accounts/model";

/**
 * 9999-12-31T23:59:59Z, the last second with a 4-digit year (as ISO 8601 input and the pages use):
 * without a bound, seconds past JS's date range made the portal's key pages fail (Invalid Date).
 */
export const MAX_TIMESTAMP = 253_402_300_799;
const TOO_LATE = "must be at most 9999-12-31T23:59:59Z (Unix seconds 253402300799)";

/** Unix seconds, or an ISO 8601 date-time; at most MAX_TIMESTAMP. */
export const Timestamp = z.union([
  z.number().int().positive().max(MAX_TIMESTAMP, TOO_LATE).describe("Unix seconds"),
  // A 4-digit year with a negative offset can still pass 9999-12-31Z.
  z.iso.datetime({ offset: true }).refine((s) => Date.parse(s) <= MAX_TIMESTAMP * 1000 + 999, TOO_LATE).describe("ISO 8601"),
]);

/** A key's name: "" (or omitted) is none, as the portal's form clears it; any other name is trimmed and checked. */
const KeyName = z
  .string()
  .refine((s) => s === "" || hasVisible(s), 'must not be blank (omit it, or send "" for no name)')
  .trim()
  .max(NAME_MAX)
  .refine((s) => !hasControl(s), "must not contain control characters (line breaks, tabs, NUL)");

/** Allowed model ids, each once (repeats are dropped, the order kept). */
const Models = z
  .array(z.string().min(1))
  .min(1)
  .overwrite((ids) => [...new Set(ids)]);

/** A budget per period, which resets at the period's start in budget_timezone. */
export const Budget = z.strictObject({
  period: z.enum(BUDGET_PERIODS).describe("day, week (from Monday) or month (from the 1st), in budget_timezone"),
  amount_micros: z.number().int().positive().max(1e15).describe("USD × 1,000,000 the key (or member) may spend per period"),
});

export const CreateKeyBody = z.strictObject({
  name: KeyName.optional(),
  models: Models.nullable().optional().describe("Allowed model ids; omitted or null = all."),
  expires_at: Timestamp.nullable().optional(),
  spend_cap_micros: z.number().int().positive().nullable().optional(),
  budget: Budget.nullable().optional().describe("A budget per day, week or month besides the lifetime cap; null = none."),
});

const Limit = z.number().int().positive().max(1e9).nullable().optional();

/** What PATCH /admin/keys/:id changes: every field optional (absent = unchanged, null = removed). */
export const UpdateKeyBody = z.strictObject({
  name: KeyName.optional(),
  models: Models.nullable().optional().describe("Allowed model ids; null = all."),
  expires_at: Timestamp.nullable().optional().describe("null = never"),
  spend_cap_micros: z.number().int().positive().nullable().optional().describe("Lifetime cap of the key's rotation line (set on its newest key)."),
  rpm: Limit.describe("Key override (null = the plan's); never above the account's plan."),
  tpm: Limit,
  concurrency: Limit,
  budget: Budget.nullable().optional().describe("Budget of the key's rotation line (set on its newest key); null = none."),
});

export const RotateKeyBody = z.strictObject({
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
