import type { SqliteStore } from "../../store/sqlite-store";
import type { DailyUsageT, UsageQueryT, UsageRowT } from "./model";
import { forEachSlice } from "./slices";

export interface UsageFilter {
  accountId?: string;
  keyId?: string;
  /** Any of these keys (a rotation line, a member's keys); empty matches nothing. */
  keyIds?: readonly string[];
  model?: string;
  /** Milliseconds, inclusive. */
  from?: number;
  /** Milliseconds, exclusive. */
  to?: number;
}

const DAY_MS = 86_400_000;

export function toMillis(v: number | string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return typeof v === "number" ? v * 1000 : Date.parse(v);
}

export function filterFromQuery(q: Omit<UsageQueryT, "limit">, accountId?: string): UsageFilter {
  return { accountId: accountId ?? q.account_id, keyId: q.key_id, model: q.model, from: toMillis(q.start), to: toMillis(q.end) };
}

function where(f: UsageFilter, time = "created_at"): { sql: string; args: (string | number)[] } {
  const parts: string[] = [];
  const args: (string | number)[] = [];
  if (f.accountId) (parts.push("account_id = ?"), args.push(f.accountId));
  if (f.keyId) (parts.push("key_id = ?"), args.push(f.keyId));
  if (f.keyIds) {
    parts.push(f.keyIds.length ? `key_id IN (${f.keyIds.map(() => "?").join(", ")})` : "0");
    args.push(...f.keyIds);
  }
  if (f.model) (parts.push("model = ?"), args.push(f.model));
  if (f.from !== undefined) (parts.push(`${time} >= ?`), args.push(f.from));
  if (f.to !== undefined) (parts.push(`${time} < ?`), args.push(f.to));
  return { sql: parts.length ? `WHERE ${parts.join(" AND ")}` : "", args };
}

type Raw = {
  request_id: string; account_id: string; key_id: string | null; model: string; endpoint: string; stream: number; status: number;
  prompt_tokens: number; cached_tokens: number; completion_tokens: number; reasoning_tokens: number; cost_micros: number;
  estimated: number; latency_ms: number; ttft_ms: number | null; upstream_request_id: string | null; error_code: string | null;
  created_at: number;
};

/** Raw usage rows, newest first; the cursor is "<created_at>:<request_id>" of the last row. */
export function listUsage(store: SqliteStore, f: UsageFilter, limit: number, cursor?: string): { rows: UsageRowT[]; nextCursor: string | null } {
  const w = where(f);
  let sql = w.sql;
  const args = [...w.args];
  const m = cursor ? /^(\d+):(.+)$/.exec(cursor) : null;
  if (m) {
    // The bare `created_at <= ?` lets the index start at the cursor instead of at the newest row.
    sql += `${sql ? " AND" : "WHERE"} created_at <= ? AND (created_at < ? OR request_id < ?)`;
    args.push(Number(m[1]), Number(m[1]), m[2]!);
  }
  const raw = store
    .prepared(`SELECT * FROM usage_log ${sql} ORDER BY created_at DESC, request_id DESC LIMIT ?`)
    .all(...args, limit + 1) as Raw[];
  const rows = raw.slice(0, limit).map(usageView);
  const last = raw.length > limit ? raw[limit - 1]! : null;
  return { rows, nextCursor: last ? `${last.created_at}:${last.request_id}` : null };
}

export function usageView(r: Raw): UsageRowT {
  return {
    object: "usage_record",
    request_id: r.request_id,
    account_id: r.account_id,
    key_id: r.key_id,
    model: r.model,
    endpoint: r.endpoint,
    stream: r.stream === 1,
    status: r.status,
    prompt_tokens: r.prompt_tokens,
    cached_tokens: r.cached_tokens,
    completion_tokens: r.completion_tokens,
    reasoning_tokens: r.reasoning_tokens,
    cost_micros: r.cost_micros,
    estimated: r.estimated === 1,
    latency_ms: r.latency_ms,
    ttft_ms: r.ttft_ms,
    upstream_request_id: r.upstream_request_id,
    error_code: r.error_code,
    created_at: Math.floor(r.created_at / 1000),
  };
}

const SUMS = `count(*) AS requests, sum(prompt_tokens) AS prompt_tokens, sum(cached_tokens) AS cached_tokens,
  sum(completion_tokens) AS completion_tokens, sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros`;
const DAILY_SUMS = `sum(requests) AS requests, sum(prompt_tokens) AS prompt_tokens, sum(cached_tokens) AS cached_tokens,
  sum(completion_tokens) AS completion_tokens, sum(reasoning_tokens) AS reasoning_tokens, sum(cost_micros) AS cost_micros`;

/**
 * Totals by UTC day and model: raw rows plus the rolled-up history in usage_daily (a key
 * filter, or a member's, cannot apply to rollups, which are per account and model). The raw rows are summed in
 * slices (see forEachSlice), so a range of millions of rows never blocks other requests.
 */
export async function dailyUsage(store: SqliteStore, f: UsageFilter): Promise<DailyUsageT[]> {
  const merged = new Map<string, DailyUsageT>();
  const add = (r: DailyUsageT) => {
    const k = `${r.day}\u0000${r.model}`;
    const prev = merged.get(k);
    merged.set(k, prev ? addTotals(prev, r) : { ...r });
  };
  await forEachSlice(store, f, (slice) => {
    const raw = where(slice);
    const rows = store
      .prepared(`SELECT strftime('%Y-%m-%d', created_at / 1000, 'unixepoch') AS day, model, ${SUMS} FROM usage_log ${raw.sql} GROUP BY day, model`)
      .all(...raw.args) as DailyUsageT[];
    for (const r of rows) add(r);
  });
  if (!f.keyId && !f.keyIds) {
    const d = whereDaily({ accountId: f.accountId, model: f.model, from: f.from, to: f.to });
    const rows = store.prepared(`SELECT day, model, ${DAILY_SUMS} FROM usage_daily ${d.sql} GROUP BY day, model`).all(...d.args) as DailyUsageT[];
    for (const r of rows) add(r);
  }
  return [...merged.values()].sort((a, b) => (a.day === b.day ? a.model.localeCompare(b.model) : b.day.localeCompare(a.day)));
}

function whereDaily(f: UsageFilter) {
  const parts: string[] = [];
  const args: (string | number)[] = [];
  if (f.accountId) (parts.push("account_id = ?"), args.push(f.accountId));
  if (f.model) (parts.push("model = ?"), args.push(f.model));
  if (f.from !== undefined) (parts.push("day >= ?"), args.push(isoDay(f.from)));
  if (f.to !== undefined) (parts.push("day < ?"), args.push(isoDay(f.to + DAY_MS - 1)));
  return { sql: parts.length ? `WHERE ${parts.join(" AND ")}` : "", args };
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

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

const BUDGET_DAYS_KEPT = 40;

/**
 * Retention: raw rows older than `retentionDays` become daily totals (added to usage_daily) and
 * are deleted, in one transaction, so the table stays bounded and history keeps its totals; budget
 * spend days no current period can reach are deleted with them.
 */
export function rollUpUsage(store: SqliteStore, retentionDays: number, now = Date.now()): number {
  // Cut at a UTC day boundary so that a day is never split between raw rows and its rollup.
  const cutoff = Math.floor((now - retentionDays * DAY_MS) / DAY_MS) * DAY_MS;
  return store.write(() => {
    store.sqlite
      .query(
        `INSERT INTO usage_daily (day, account_id, model, requests, prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens, cost_micros)
         SELECT strftime('%Y-%m-%d', created_at / 1000, 'unixepoch'), account_id, model, ${SUMS}
         FROM usage_log WHERE created_at < ? GROUP BY 1, 2, 3
         ON CONFLICT (day, account_id, model) DO UPDATE SET
           requests = requests + excluded.requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
           cached_tokens = cached_tokens + excluded.cached_tokens, completion_tokens = completion_tokens + excluded.completion_tokens,
           reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, cost_micros = cost_micros + excluded.cost_micros`,
      )
      .run(cutoff);
    // Budget days: the longest period (a month, or a week that began in the month before) is under 40 days.
    store.sqlite.query("DELETE FROM budget_spend WHERE day < ?").run(now - BUDGET_DAYS_KEPT * DAY_MS);
    return store.sqlite.query("DELETE FROM usage_log WHERE created_at < ?").run(cutoff).changes;
  });
}
