import { z } from "zod";
import { queryInt } from "../../lib/query-int";

/** A point in time: unix seconds, an ISO 8601 date-time, or a plain date (UTC). */
const Time = z.union([queryInt(0, Number.MAX_SAFE_INTEGER), z.iso.date(), z.iso.datetime({ offset: true })]);

export const GROUPS = ["day", "model", "account", "key"] as const;
export type MarginGroupBy = (typeof GROUPS)[number];

export const MarginsQuery = z.object({
  from: Time.optional().describe("From (unix seconds, ISO 8601 date-time, or a date: its start, UTC), inclusive."),
  to: Time.optional().describe("Until (unix seconds or ISO 8601 date-time, exclusive; a date: through the end of that day, UTC)."),
  account_id: z.string().optional(),
  model: z.string().optional(),
  key_id: z.string().optional(),
  group_by: z.enum(GROUPS).default("day"),
  format: z.enum(["json", "csv"]).default("json"),
});

export const LossesQuery = MarginsQuery.omit({ group_by: true, format: true }).extend({
  limit: queryInt(1, 1000).default(100),
  before: z.string().optional().describe("Cursor: the `next_cursor` of the previous page."),
});

const micros = () => z.number().int();

export const MarginSums = z.object({
  requests: z.number().int().describe("Every usage row in the group, failures included."),
  revenue_micros: micros().describe("What customers were charged: the sum of cost_micros."),
  known_cost_requests: z.number().int().describe("Rows whose upstream cost is known."),
  known_cost_revenue_micros: micros().describe("Revenue of the rows whose upstream cost is known."),
  upstream_cost_micros: micros().describe("What the upstream billed for the rows whose cost is known."),
  unknown_cost_requests: z.number().int().describe("Charged or successful rows whose upstream cost is unknown: not counted as zero cost."),
  unknown_cost_revenue_micros: micros().describe("Revenue of the rows whose upstream cost is unknown (left out of the margin)."),
  margin_micros: micros().describe("known_cost_revenue_micros − upstream_cost_micros."),
  margin_percent: z.number().nullable().describe("margin / known-cost revenue × 100, two decimals; null without known-cost revenue."),
  loss_requests: z.number().int().describe("Rows charged less than their upstream cost."),
  loss_micros: micros().describe("What those rows lost: Σ (upstream cost − charge)."),
});

export const MarginGroup = MarginSums.extend({
  group: z.string().describe("The UTC day (YYYY-MM-DD), model id, account id or key id (\"\" for rows without a key)."),
  label: z.string().nullable().describe("The account's or key's name, when grouped by account or key."),
});

export const MarginsReport = z.object({
  object: z.literal("margins"),
  group_by: z.enum(GROUPS),
  from: z.number().int().nullable().describe("Unix seconds, inclusive (null: from the oldest row)."),
  to: z.number().int().nullable().describe("Unix seconds, exclusive (null: up to now)."),
  totals: MarginSums,
  data: z.array(MarginGroup),
});

export const LossRow = z.object({
  object: z.literal("loss"),
  request_id: z.string(),
  created_at: z.number().int().describe("Unix seconds."),
  account_id: z.string(),
  account_name: z.string().nullable(),
  key_id: z.string().nullable(),
  key_name: z.string().nullable(),
  model: z.string(),
  endpoint: z.string(),
  upstream: z.string().nullable(),
  status: z.number().int(),
  cost_micros: micros().describe("What the customer was charged."),
  upstream_cost_micros: micros().describe("What the upstream billed."),
  loss_micros: micros().describe("upstream_cost_micros − cost_micros."),
  overage_micros: micros().describe("Charged beyond the request's hold."),
});

export const LossesList = z.object({
  object: z.literal("list"),
  data: z.array(LossRow),
  has_more: z.boolean(),
  next_cursor: z.string().nullable(),
});

export type MarginsQueryT = z.infer<typeof MarginsQuery>;
export type LossesQueryT = z.infer<typeof LossesQuery>;
export type MarginSumsT = z.infer<typeof MarginSums>;
export type MarginGroupT = z.infer<typeof MarginGroup>;
export type MarginsReportT = z.infer<typeof MarginsReport>;
export type LossRowT = z.infer<typeof LossRow>;
