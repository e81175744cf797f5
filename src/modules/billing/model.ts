import { z } from "zod";
import { beforeParam } from "../../lib/cursor";
import { queryInt } from "../../lib/query-int";

export const PaymentStatus = z.enum(["pending", "paid", "expired", "failed", "partially_refunded", "refunded", "disputed", "dispute_lost"]);

export const PaymentView = z.object({
  id: z.string(),
  object: z.literal("payment"),
  account_id: z.string(),
  status: PaymentStatus,
  currency: z.string(),
  amount: z.string().describe("Amount paid, in currency units (\"25.00\")."),
  amount_minor: z.number().int().describe("Amount in the currency's minor unit, as Stripe counts it."),
  credit_micros: z.number().int().describe("Credits granted when paid."),
  refunded_minor: z.number().int(),
  debited_micros: z.number().int().describe("Credits taken back by refunds and lost disputes."),
  stripe_session_id: z.string().nullable(),
  stripe_payment_intent: z.string().nullable(),
  receipt_url: z.string().nullable(),
  created_at: z.number().int().describe("Unix seconds (page with `next_cursor`, which keeps the millisecond and the id)."),
  paid_at: z.number().int().nullable(),
});

export const PaymentList = z.object({
  object: z.literal("list"),
  data: z.array(PaymentView),
  has_more: z.boolean(),
  next_cursor: z.string().nullable().describe("Pass as `before` for the next page; null on the last page."),
});

export const PaymentsQuery = z.object({
  limit: queryInt(1, 200).default(50),
  // The same reader as paymentsPage's (src/lib/cursor.ts): an unreadable cursor is a 400, never the first page again.
  before: beforeParam({ bareTime: true })
    .optional()
    .describe("Cursor: the `next_cursor` of the previous page. A bare Unix time in ms (the older form) lists the payments created before it."),
  account_id: z.string().optional(),
  status: PaymentStatus.optional(),
});

export const CustomerPaymentsQuery = PaymentsQuery.omit({ account_id: true });

export const CheckoutBody = z.object({
  amount: z
    .union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?$/, "a decimal amount such as 25 or 12.50")])
    .describe("Amount to pay in the configured currency's units (a preset or between the minimum and maximum)."),
  success_url: z.url({ protocol: /^https?$/ }).optional().describe("Where Stripe returns after payment (default: the portal)."),
  cancel_url: z.url({ protocol: /^https?$/ }).optional().describe("Where Stripe returns when the customer cancels (default: the portal)."),
});

export const CheckoutView = PaymentView.extend({
  url: z.string().describe("Stripe Checkout page: redirect the customer here."),
});

export const Preset = z.object({ amount: z.string(), amount_minor: z.number().int(), credit_micros: z.number().int(), credit_usd: z.string() });

export const BillingInfo = z.object({
  object: z.literal("billing"),
  enabled: z.boolean().describe("False when the operator has not configured Stripe: top up with redemption codes instead."),
  currency: z.string(),
  presets: z.array(Preset),
  min_amount: z.string(),
  max_amount: z.string(),
  credit_per_unit: z.string().describe("Credits (USD) granted per unit of currency paid."),
});

export const WebhookAck = z.object({ received: z.literal(true), result: z.string() });

export type PaymentViewT = z.infer<typeof PaymentView>;
export type PaymentListT = z.infer<typeof PaymentList>;
export type BillingInfoT = z.infer<typeof BillingInfo>;
