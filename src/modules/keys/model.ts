import { z } from "zod";

/** Unix seconds, or an ISO 8601 date-time. */
export const Timestamp = z.union([
  z.number().int().positive().describe("Unix seconds"),
  z.iso.datetime({ offset: true }).describe("ISO 8601"),
]);

export const CreateKeyBody = z.object({
  name: z.string().max(200).optional(),
  models: z.array(z.string().min(1)).min(1).nullable().optional().describe("Allowed model ids; omitted or null = all."),
  expires_at: Timestamp.nullable().optional(),
  spend_cap_micros: z.number().int().positive().nullable().optional(),
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
});

export const CreatedKey = KeyView.extend({
  key: z.string().describe("The secret key. Shown only once: store it now."),
});

export const KeyList = z.object({ object: z.literal("list"), data: z.array(KeyView) });

export type CreateKeyInput = z.infer<typeof CreateKeyBody>;
export type KeyViewT = z.infer<typeof KeyView>;
