import { and, count, desc, lt, lte, or } from "drizzle-orm";
import type { usageLog } from "../../store/schema";
import type { Store } from "../../store/store";
import { all, type Q, type Work } from "../../store/work";
import type { DailyUsageT, UsageQueryT, UsageRowT } from "./model";
import { bytewise, DAY_MS, dayNumber, isoDay, rollupsWhere, rowsWhere, total, type RowFilter } from "./query";
import { forEachSlice } from "./slices";

export { rollUpUsage } from "./rollup";

export type UsageFilter = RowFilter;

export function toMillis(v: number | string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return typeof v === "number" ? v * 1000 : Date.parse(v);
}

export function filterFromQuery(q: Omit<UsageQueryT, "limit">, accountId?: string): UsageFilter {
  return { accountId: accountId ?? q.account_id, keyId: q.key_id, model: q.model, from: toMillis(q.start), to: toMillis(q.end) };
}

type UsageLogRow = typeof usageLog.$inferSelect;
export type UsagePage = { rows: UsageRowT[]; nextCursor: string | null };

/** Raw usage rows, newest first; the cursor is "<created_at>:<request_id>" of the last row. */
export function* usageRows(q: Q, f: UsageFilter, limit: number, cursor?: string): Work<UsagePage> {
  const t = q.t.usageLog;
  const m = cursor ? /^(\d+):(.+)$/.exec(cursor) : null;
  // The bare `created_at <= ?` lets the index start at the cursor instead of at the newest row.
  const after = m ? and(lte(t.createdAt, Number(m[1])), or(lt(t.createdAt, Number(m[1])), lt(bytewise(q, t.requestId), m[2]!))) : undefined;
  const raw = yield* all(
    q.db.select().from(t).where(and(rowsWhere(t, f), after)).orderBy(desc(t.createdAt), desc(bytewise(q, t.requestId))).limit(limit + 1),
  );
  const rows = raw.slice(0, limit).map(usageView);
  const last = raw.length > limit ? raw[limit - 1]! : null;
  return { rows, nextCursor: last ? `${last.createdAt}:${last.requestId}` : null };
}

export const listUsage = (store: Store, f: UsageFilter, limit: number, cursor?: string): Promise<UsagePage> =>
  store.read((q) => usageRows(q, f, limit, cursor));

export function usageView(r: UsageLogRow): UsageRowT {
  return {
    object: "usage_record",
    request_id: r.requestId,
    account_id: r.accountId,
    key_id: r.keyId,
    model: r.model,
    endpoint: r.endpoint,
    stream: r.stream,
    status: r.status,
    prompt_tokens: r.promptTokens,
    cached_tokens: r.cachedTokens,
    completion_tokens: r.completionTokens,
    reasoning_tokens: r.reasoningTokens,
    cost_micros: r.costMicros,
    estimated: r.estimated,
    latency_ms: r.latencyMs,
    ttft_ms: r.ttftMs,
    upstream_request_id: r.upstreamRequestId,
    error_code: r.errorCode,
    created_at: Math.floor(r.createdAt / 1000),
  };
}

/** Totals per UTC day (a day number, see dayNumber) and model of the raw rows of `f`. */
function* rawDayTotals(q: Q, f: UsageFilter): Work<DailyUsageT[]> {
  const t = q.t.usageLog;
  const day = dayNumber(t);
  const rows = yield* all(
    q.db
      .select({
        day, model: t.model, requests: count(), prompt_tokens: total(t.promptTokens), cached_tokens: total(t.cachedTokens),
        completion_tokens: total(t.completionTokens), reasoning_tokens: total(t.reasoningTokens), cost_micros: total(t.costMicros),
      })
      .from(t)
      .where(rowsWhere(t, f))
      .groupBy(day, t.model),
  );
  return rows.map((r) => ({ ...r, day: isoDay(r.day * DAY_MS) }));
}

/** Totals per day and model of the rolled-up history (summed over its keys). */
function* rolledUpDayTotals(q: Q, f: UsageFilter): Work<DailyUsageT[]> {
  const t = q.t.usageDaily;
  return yield* all(
    q.db
      .select({
        day: t.day, model: t.model, requests: total(t.requests), prompt_tokens: total(t.promptTokens), cached_tokens: total(t.cachedTokens),
        completion_tokens: total(t.completionTokens), reasoning_tokens: total(t.reasoningTokens), cost_micros: total(t.costMicros),
      })
      .from(t)
      .where(rollupsWhere(t, f))
      .groupBy(t.day, t.model),
  );
}

/**
 * Totals by UTC day and model: raw rows plus the rolled-up history in usage_daily (per key, so a
 * key filter or a member's applies to it too; see rollupsWhere). The raw rows are summed in
 * slices (see forEachSlice), so a range of millions of rows never blocks other requests.
 */
export async function dailyUsage(store: Store, f: UsageFilter): Promise<DailyUsageT[]> {
  const merged = new Map<string, DailyUsageT>();
  const add = (r: DailyUsageT) => {
    const k = `${r.day}\u0000${r.model}`;
    const prev = merged.get(k);
    merged.set(k, prev ? addTotals(prev, r) : { ...r });
  };
  await forEachSlice(store, f, function* (q, slice) {
    for (const r of yield* rawDayTotals(q, slice)) add(r);
  });
  for (const r of await store.read((q) => rolledUpDayTotals(q, f))) add(r);
  return [...merged.values()].sort((a, b) => (a.day === b.day ? a.model.localeCompare(b.model) : b.day.localeCompare(a.day)));
}

function addTotals<T extends Omit<DailyUsageT, "day" | "model">>(a: T, b: Omit<DailyUsageT, "day" | "model">): T {
  return {
    ...a,
    requests: a.requests + b.requests,
    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
    cached_tokens: a.cached_tokens + b.cached_tokens,
    completion_tokens: a.completion_tokens + b.completion_tokens,
    reasoning_tokens: a.reasoning_tokens + b.reasoning_tokens,
    cost_micros: a.cost_micros + b.cost_micros,
  };
}

export function totalsOf(daily: DailyUsageT[]) {
  const zero = { requests: 0, prompt_tokens: 0, cached_tokens: 0, completion_tokens: 0, reasoning_tokens: 0, cost_micros: 0 };
  return daily.reduce((acc, d) => addTotals(acc, d), zero);
}
