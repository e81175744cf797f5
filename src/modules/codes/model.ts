import { z } from "zod";
import { beforeParam } from "../../lib/cursor";
import { queryInt } from "../../lib/query-int";
import { Timestamp } from "../keys/model";
import { LedgerEntryView } from "../ledger/model";

export const CreateCodesBody = z.strictObject({
  count: z.number().int().min(1).max(1000).describe("How many single-use codes to create."),
  amount_micros: z
    .number()
    .int()
    .positive()
    .max(1e12)
    .describe("Credit each code is worth. 1 USD = 1,000,000 micros."),
  note: z.string().trim().max(200).optional(),
  expires_at: Timestamp.nullable().optional().describe("After this the codes can no longer be redeemed."),
});

export const CodeStatus = z.enum(["available", "redeemed", "expired"]);

export const CodeBatch = z.object({
  object: z.literal("code_batch"),
  batch: z.string(),
  count: z.number().int(),
  amount_micros: z.number().int(),
  amount_usd: z.string(),
  note: z.string().nullable(),
  expires_at: z.number().int().nullable(),
  codes: z.array(z.object({ id: z.string(), code: z.string().describe("Shown only in this response: store or hand it out now.") })),
});

export const CodeView = z.object({
  id: z.string(),
  object: z.literal("redemption_code"),
  batch: z.string(),
  display: z.string().describe("Prefix and last four characters, e.g. TG-…7KQ2."),
  amount_micros: z.number().int(),
  amount_usd: z.string(),
  note: z.string().nullable(),
  status: CodeStatus,
  expires_at: z.number().int().nullable(),
  redeemed_by: z.string().nullable(),
  redeemed_at: z.number().int().nullable(),
  created_at: z.number().int(),
});

export const ListCodesQuery = z.object({
  batch: z.string().optional(),
  status: CodeStatus.optional(),
  limit: queryInt(1, 1000).default(100),
  offset: queryInt(0, Number.MAX_SAFE_INTEGER).default(0).describe("Skips this many (the older way to page; `before` does not skip or repeat a code as others are created or redeemed)."),
  // The same reader as listCodes's and the payments' (src/lib/cursor.ts): an unreadable cursor is a 400, never the first page again.
  before: beforeParam().optional().describe("The `next_cursor` of the previous page."),
});

export const CodeList = z.object({
  object: z.literal("list"),
  data: z.array(CodeView),
  has_more: z.boolean(),
  next_cursor: z.string().nullable().describe("Pass as `before` for the next page; null on the last page."),
});

export const RedeemBody = z.object({ code: z.string().min(1).max(64) });

export const Redemption = z.object({
  object: z.literal("redemption"),
  code_id: z.string(),
  amount_micros: z.number().int(),
  amount_usd: z.string(),
  replayed: z.boolean().describe("True when this account had already redeemed the code: nothing was credited again."),
  ledger_entry: LedgerEntryView,
});

export type CreateCodesInput = z.infer<typeof CreateCodesBody>;
export type CodeViewT = z.infer<typeof CodeView>;
