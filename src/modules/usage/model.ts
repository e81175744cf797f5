import { z } from "zod";
import { queryInt } from "../../lib/query-int";
import { Timestamp } from "../keys/model";

/** Unix seconds, an ISO 8601 date-time, or a date (its start, UTC). */
const Time = z.union([queryInt(0, Number.MAX_SAFE_INTEGER), z.iso.date(), z.iso.datetime({ offset: true })]);

export const UsageQuery = z.object({
  start: Time.optional().describe("From (unix seconds, an ISO 8601 date-time, or a date: its start, UTC), inclusive."),
  end: Time.optional().describe("Until (unix seconds, an ISO 8601 date-time, or a date: its start, UTC), exclusive."),
  model: z.string().optional(),
  key_id: z.string().optional().describe("A key: its whole rotation line (the keys it replaced and those that replaced it), whose spend /v1/me shows as the key's. Its days past usage_retention_days are included, from the daily totals (bar those rolled up before they were kept per key)."),
  limit: queryInt(1, 1000).default(100),
  // A cursor the reader cannot parse would restart at the newest row: a client would page through the same rows forever.
  before: z.string().regex(/^\d+:.+$/, "Not a cursor from a previous page.").optional().describe("Cursor: the `next_cursor` of the previous page."),
});

export const AdminUsageQuery = UsageQuery.extend({
  account_id: z.string().optional(),
  member_id: z.string().optional().describe("Only the keys of this member (the owner's include keys made by the operator)."),
});

export const UsageRow = z.object({
  object: z.literal("usage_record"),
  request_id: z.string(),
  account_id: z.string(),
  key_id: z.string().nullable(),
  model: z.string(),
  endpoint: z.string().describe("The API called: chat.completions, completions, responses, messages, images.generations, images.edits or tokenize."),
  stream: z.boolean(),
  status: z.number().int(),
  prompt_tokens: z.number().int(),
  cached_tokens: z.number().int(),
  completion_tokens: z.number().int().describe("Includes reasoning tokens (OpenAI accounting)."),
  reasoning_tokens: z.number().int(),
  cost_micros: z.number().int(),
  estimated: z.boolean().describe("True when the upstream reported no usage and the charge is an estimate."),
  latency_ms: z.number().int(),
  ttft_ms: z.number().int().nullable(),
  upstream_request_id: z.string().nullable(),
  error_code: z.string().nullable(),
  created_at: z.number().int().describe("Unix seconds."),
});

export const UsageTotals = z.object({
  requests: z.number().int(),
  prompt_tokens: z.number().int(),
  cached_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  reasoning_tokens: z.number().int(),
  cost_micros: z.number().int(),
});

export const DailyUsage = UsageTotals.extend({ day: z.string().describe("UTC date YYYY-MM-DD."), model: z.string() });

export const UsageReport = z.object({
  object: z.literal("list"),
  data: z.array(UsageRow),
  has_more: z.boolean(),
  next_cursor: z.string().nullable(),
  totals: UsageTotals,
  daily: z.array(DailyUsage).describe("Totals by UTC day and model over the whole range (rolled-up history included)."),
});

export type UsageQueryT = z.infer<typeof AdminUsageQuery>;
export type UsageRowT = z.infer<typeof UsageRow>;
export type DailyUsageT = z.infer<typeof DailyUsage>;
export { Timestamp };
