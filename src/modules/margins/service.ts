import { errors } from "../../lib/errors";
import type { SqliteStore } from "../../store/sqlite-store";
import { forEachSlice, type SliceFilter } from "../usage/slices";
import type { LossesQueryT, LossRowT, MarginGroupBy, MarginGroupT, MarginsQueryT, MarginsReportT, MarginSumsT } from "./model";

const DAY_MS = 86_400_000;

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

function where(f: MarginFilter, extra: string[] = []): { sql: string; args: (string | number)[] } {
  const parts = [...extra];
  const args: (string | number)[] = [];
  if (f.accountId) (parts.push("account_id = ?"), args.push(f.accountId));
  if (f.keyId) (parts.push("key_id = ?"), args.push(f.keyId));
  if (f.model) (parts.push("model = ?"), args.push(f.model));
  if (f.from !== undefined) (parts.push("created_at >= ?"), args.push(f.from));
  if (f.to !== undefined) (parts.push("created_at < ?"), args.push(f.to));
  return { sql: parts.length ? `WHERE ${parts.join(" AND ")}` : "", args };
}

const GROUP_SQL: Record<MarginGroupBy, string> = {
  day: "strftime('%Y-%m-%d', created_at / 1000, 'unixepoch')",
  model: "model",
  account: "account_id",
  key: "coalesce(key_id, '')",
};

// Unknown cost: a row charged (or successful) without an upstream cost. An uncharged failure
// cost the operator nothing we know of either way, and is neither known nor unknown.
const SUMS_SQL = `count(*) AS requests, sum(cost_micros) AS revenue_micros,
  sum(CASE WHEN upstream_cost_micros IS NOT NULL THEN 1 ELSE 0 END) AS known_cost_requests,
  sum(CASE WHEN upstream_cost_micros IS NOT NULL THEN cost_micros ELSE 0 END) AS known_cost_revenue_micros,
  coalesce(sum(upstream_cost_micros), 0) AS upstream_cost_micros,
  sum(CASE WHEN upstream_cost_micros IS NULL AND (cost_micros > 0 OR status < 400) THEN 1 ELSE 0 END) AS unknown_cost_requests,
  sum(CASE WHEN upstream_cost_micros IS NULL THEN cost_micros ELSE 0 END) AS unknown_cost_revenue_micros,
  sum(CASE WHEN upstream_cost_micros > cost_micros THEN 1 ELSE 0 END) AS loss_requests,
  sum(CASE WHEN upstream_cost_micros > cost_micros THEN upstream_cost_micros - cost_micros ELSE 0 END) AS loss_micros`;

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

/**
 * Revenue, upstream cost and margin per group over the raw usage rows of `f`, summed in slices
 * (forEachSlice) so that a long period never holds the event loop. Groups sorted by day (newest
 * first) or by revenue.
 */
export async function margins(store: SqliteStore, f: MarginFilter, groupBy: MarginGroupBy): Promise<MarginsReportT> {
  const groups = new Map<string, Raw>();
  const totals = zero();
  await forEachSlice(store, f, (slice) => {
    const w = where(slice);
    const rows = store.prepared(`SELECT ${GROUP_SQL[groupBy]} AS g, ${SUMS_SQL} FROM usage_log ${w.sql} GROUP BY g`).all(...w.args) as (Raw & { g: string })[];
    for (const { g, ...r } of rows) {
      let acc = groups.get(g);
      if (!acc) groups.set(g, (acc = zero()));
      add(acc, r);
      add(totals, r);
    }
  });
  const names = labels(store, groupBy, [...groups.keys()]);
  const data: MarginGroupT[] = [...groups].map(([group, r]) => ({ group, label: names.get(group) ?? null, ...withMargin(r) }));
  data.sort(groupBy === "day" ? (a, b) => b.group.localeCompare(a.group) : (a, b) => b.revenue_micros - a.revenue_micros || a.group.localeCompare(b.group));
  const sec = (ms: number | undefined) => (ms === undefined ? null : Math.floor(ms / 1000));
  return { object: "margins", group_by: groupBy, from: sec(f.from), to: sec(f.to), totals: withMargin(totals), data };
}

/** Names of the accounts or keys a report groups by. */
function labels(store: SqliteStore, groupBy: MarginGroupBy, ids: string[]): Map<string, string> {
  const table = groupBy === "account" ? "accounts" : groupBy === "key" ? "api_keys" : null;
  const out = new Map<string, string>();
  if (!table) return out;
  const q = store.prepared(`SELECT name FROM ${table} WHERE id = ?`);
  for (const id of ids) {
    const row = q.get(id) as { name: string } | null;
    if (row) out.set(id, row.name);
  }
  return out;
}

type LossRaw = {
  request_id: string; created_at: number; account_id: string; key_id: string | null; model: string; endpoint: string;
  upstream: string | null; status: number; cost_micros: number; upstream_cost_micros: number; overage_micros: number;
};

/** Requests charged less than their upstream cost, newest first; the cursor is "<created_at>:<request_id>". */
export async function losses(store: SqliteStore, q: LossesQueryT): Promise<{ rows: LossRowT[]; nextCursor: string | null }> {
  const f = marginFilter(q);
  const m = q.before ? /^(\d+):(.+)$/.exec(q.before) : null;
  if (q.before && !m) throw errors.badRequest("Not a cursor from a previous page.", "before");
  // The cursor's millisecond is visited again (its other rows), then skipped by request id.
  if (m) f.to = Math.min(f.to ?? Infinity, Number(m[1]) + 1);
  const found: LossRaw[] = [];
  await forEachSlice(store, f, (slice) => {
    const w = where(slice, ["upstream_cost_micros > cost_micros"]);
    let sql = w.sql;
    const args = [...w.args];
    if (m) (sql += " AND (created_at < ? OR request_id < ?)"), args.push(Number(m[1]), m[2]!);
    const rows = store.prepared(
      `SELECT request_id, created_at, account_id, key_id, model, endpoint, upstream, status, cost_micros, upstream_cost_micros, overage_micros
       FROM usage_log ${sql} ORDER BY created_at DESC, request_id DESC LIMIT ?`,
    ).all(...args, q.limit + 1 - found.length) as LossRaw[];
    found.push(...rows);
    return found.length <= q.limit;
  });
  const page = found.slice(0, q.limit);
  const last = found.length > q.limit ? page[page.length - 1]! : null;
  const accounts = labels(store, "account", [...new Set(page.map((r) => r.account_id))]);
  const keys = labels(store, "key", [...new Set(page.flatMap((r) => (r.key_id ? [r.key_id] : [])))]);
  return {
    rows: page.map((r) => ({
      object: "loss" as const, ...r, created_at: Math.floor(r.created_at / 1000),
      account_name: accounts.get(r.account_id) ?? null, key_name: r.key_id ? (keys.get(r.key_id) ?? null) : null,
      loss_micros: r.upstream_cost_micros - r.cost_micros,
    })),
    nextCursor: last ? `${last.created_at}:${last.request_id}` : null,
  };
}
