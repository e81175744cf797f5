import { z } from "zod";

export const DeliveryStatus = z.enum(["pending", "sent", "failed", "skipped"]);

export const AlertEventView = z.object({
  id: z.string(),
  object: z.literal("alert_event"),
  kind: z.literal("low_balance"),
  available_micros: z.number().int(),
  threshold_micros: z.number().int(),
  webhook_status: DeliveryStatus,
  email_status: DeliveryStatus,
  created_at: z.number().int().describe("Unix seconds."),
});

export const LowBalanceView = z.object({
  object: z.literal("low_balance_alert"),
  account_id: z.string(),
  threshold_micros: z.number().int().describe("Alert when available credit falls below this; 0 = off."),
  threshold_usd: z.string(),
  source: z.enum(["account", "default"]).describe("account: set for this account; default: the operator's default."),
  default_threshold_micros: z.number().int(),
  armed: z.boolean().describe("False after an alert fired, until available credit is back at or above the threshold."),
  last_fired_at: z.number().int().nullable(),
  channels: z.object({ webhook: z.boolean(), email: z.boolean() }).describe("Where the operator delivers alerts."),
  recent: z.array(AlertEventView),
});

export const LowBalanceBody = z.strictObject({
  threshold_micros: z
    .number()
    .int()
    .min(0)
    .max(1e15)
    .nullable()
    .describe("Micro-credits (1 USD = 1,000,000); 0 turns the alert off, null restores the operator's default."),
});

export type LowBalanceViewT = z.infer<typeof LowBalanceView>;
export type AlertEventViewT = z.infer<typeof AlertEventView>;
