import { count, sql, type SQL } from "drizzle-orm";
import { errors } from "../../lib/errors";
import type { Store } from "../../store/store";
import type { Tables } from "../../store/tables";
import { all, type Q, type Work } from "../../store/work";
import { accountNames, DAY_MS, dayNumber, isoDay, keyNames, num, rowsWhere, total } from "../usage/query";
import { forEachSlice, type SliceFilter } from "../usage/slices";
import type { MarginGroupBy, MarginGroupT, MarginsQueryT, MarginsReportT, MarginSumsT } from "./model";

export interface MarginFilter extends SliceFilter {
  keyId?: string;
  model?: string;
}

/** `from`: unix seconds, a date-time, or a date (its start); `to` likewise, a date meaning through its end. */
export function timeOf(v: number | string | undefined, edge: "from" | "to", param: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "number") return v * 1000;
  const day = /^\d{4}-\d{2}-\d{2}$/.test(v);
  const ms = Date.parse(day ? `${v}T00:00:00Z` : v);
  if (Number.isNaN(ms)) throw errors.badRequest(`Not a date or time: ${JSON.stringify(v)}.`, param);
  return day && edge === "to" ? ms + DAY_MS : ms;
}

export function marginFilter(q: Pick<MarginsQueryT, "from" | "to" | "account_id" | "model" | "key_id">): MarginFilter {
  const f: MarginFilter = {
    accountId: q.account_id || undefined, model: q.model || undefined, keyId: q.key_id || undefined,
    from: timeOf(q.from, "from", "from"), to: timeOf(q.to, "to", "to"),
  };
  if (f.from !== undefined && f.to !== undefined && f.to <= f.from) throw errors.badRequest("`to` must be after `from`.", "to");
  return f;
}

type Usage = Tables["usageLog"];

const GROUP_SQL: Record<MarginGroupBy, (t: Usage) => SQL> = {
  day: dayNumber,
  model: (t) => sql`${t.model}`,
  account: (t) => sql`${t.accountId}`,
  key: (t) => sql`coalesce(${t.keyId}, '')`,
};

// Unknown cost: a row charged (or successful) without an upstream cost. An uncharged failure
// cost the operator nothing we know of either way, and is neither known nor unknown.
function sumsOf(t: Usage) {
  const known = sql`${t.upstreamCostMicros} IS NOT NULL`;
  const lost = sql`${t.upstreamCostMicros} > ${t.costMicros}`;
  return {
    requests: count(),
    revenue_micros: total(t.costMicros),
    known_cost_requests: total(sql`CASE WHEN ${known} THEN 1 ELSE 0 END`),
    known_cost_revenue_micros: total(sql`CASE WHEN ${known} THEN ${t.costMicros} ELSE 0 END`),
    upstream_cost_micros: num(sql`coalesce(sum(${t.upstreamCostMicros}), 0)`),
    unknown_cost_requests: total(sql`CASE WHEN ${t.upstreamCostMicros} IS NULL AND (${t.costMicros} > 0 OR ${t.status} < 400) THEN 1 ELSE 0 END`),
    unknown_cost_revenue_micros: total(sql`CASE WHEN ${t.upstreamCostMicros} IS NULL THEN ${t.costMicros} ELSE 0 END`),
    loss_requests: total(sql`CASE WHEN ${lost} THEN 1 ELSE 0 END`),
    loss_micros: total(sql`CASE WHEN ${lost} THEN ${t.upstreamCostMicros} - ${t.costMicros} ELSE 0 END`),
  };
}

type Raw = Omit<MarginSumsT, "margin_micros" | "margin_percent">;
const ADDED = ["requests", "revenue_micros", "known_cost_requests", "known_cost_revenue_micros", "upstream_cost_micros",
  "unknown_cost_requests", "unknown_cost_revenue_micros", "loss_requests", "loss_micros"] as const;

const zero = (): Raw => Object.fromEntries(ADDED.map((k) => [k, 0])) as Raw;

function add(into: Raw, r: Raw): void {
  for (const k of ADDED) into[k] += r[k];
}

/** Margin and margin % of summed rows; the percent in exact integers, rounded half up to 2 decimals. */
export function withMargin(r: Raw): MarginSumsT {
  const margin = r.known_cost_revenue_micros - r.upstream_cost_micros;
  let percent: number | null = null;
  if (r.known_cost_revenue_micros > 0) {
    const twice = (BigInt(margin) * 20_000n) / BigInt(r.known_cost_revenue_micros);
    percent = Number(twice >= 0n ? (twice + 1n) / 2n : -((-twice + 1n) / 2n)) / 100;
  }
  return { ...r, margin_micros: margin, margin_percent: percent };
}

/** The sums per group of the rows of `f` (a day as YYYY-MM-DD). */
function* groupSums(q: Q, f: MarginFilter, groupBy: MarginGroupBy): Work<(Raw & { g: string })[]> {
  const t = q.t.usageLog;
  const g = GROUP_SQL[groupBy](t);
  const rows = yield* all(q.db.select({ g, ...sumsOf(t) }).from(t).where(rowsWhere(t, f)).groupBy(g));
  return rows.map((r) => ({ ...r, g: groupBy === "day" ? isoDay(Number(r.g) * DAY_MS) : String(r.g) }));
}

/**
 * Revenue, upstream cost and margin per group over the raw usage rows of `f`, summed in slices
 * (forEachSlice) so that a long period never holds the event loop. Groups sorted by day (newest
 * first) or by revenue.
 */
export async function margins(store: Store, f: MarginFilter, groupBy: MarginGroupBy): Promise<MarginsReportT> {
  const groups = new Map<string, Raw>();
  const totals = zero();
  await forEachSlice(store, f, function* (q, slice) {
    for (const { g, ...r } of yield* groupSums(q, slice, groupBy)) {
      let acc = groups.get(g);
      if (!acc) groups.set(g, (acc = zero()));
      add(acc, r);
      add(totals, r);
    }
  });
  const ids = [...groups.keys()];
  const names = await store.read((q) => labels(q, groupBy, ids));
  const data: MarginGroupT[] = [...groups].map(([group, r]) => ({ group, label: names.get(group) ?? null, ...withMargin(r) }));
  data.sort(groupBy === "day" ? (a, b) => b.group.localeCompare(a.group) : (a, b) => b.revenue_micros - a.revenue_micros || a.group.localeCompare(b.group));
  const sec = (ms: number | undefined) => (ms === undefined ? null : Math.floor(ms / 1000));
  return { object: "margins", group_by: groupBy, from: sec(f.from), to: sec(f.to), totals: withMargin(totals), data };
}

/** Names of the accounts or keys a report groups by. */
function* labels(q: Q, groupBy: MarginGroupBy, ids: readonly string[]): Work<Map<string, string>> {
  if (groupBy === "account") return yield* accountNames(q, ids);
  if (groupBy === "key") return yield* keyNames(q, ids);
  return new Map();
}
