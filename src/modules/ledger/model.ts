import { z } from "zod";
import { queryInt } from "../../lib/query-int";
import { MAX_BALANCE_MICROS } from "../../money/units";

export const CreditBody = z.strictObject({
  amount_micros: z
    .number()
    .int()
    .refine((v) => v !== 0, "must not be zero")
    .refine((v) => Math.abs(v) <= MAX_BALANCE_MICROS, "is out of range")
    .describe("Positive = top-up, negative = adjustment. 1 USD = 1,000,000 micros. A balance may hold at most 1e15 (10^9 USD): a top-up beyond it is a 400 `balance_limit_exceeded`."),
  note: z.string().max(500).optional(),
});

export const LedgerEntryView = z.object({
  id: z.number().int(),
  object: z.literal("ledger_entry"),
  account_id: z.string(),
  kind: z.enum(["topup", "adjustment", "charge", "redeem", "payment", "refund"]),
  amount_micros: z.number().int(),
  amount_usd: z.string(),
  balance_after_micros: z.number().int(),
  request_id: z.string().nullable(),
  key_id: z.string().nullable(),
  note: z.string().nullable(),
  created_at: z.number().int().describe("Unix seconds."),
});

export const LedgerQuery = z.object({
  limit: queryInt(1, 500).default(50),
  before: queryInt(1, Number.MAX_SAFE_INTEGER).optional().describe("Entries with an id below this (next page)."),
});

export const LedgerList = z.object({ object: z.literal("list"), data: z.array(LedgerEntryView), has_more: z.boolean() });

export type CreditInput = z.infer<typeof CreditBody>;
export type LedgerEntryViewT = z.infer<typeof LedgerEntryView>;
