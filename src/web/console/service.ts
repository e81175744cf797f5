import type { Config, Provider } from "../../config/load";
import type { SqliteStore } from "../../store/sqlite-store";
import type { UsageFilter } from "../../modules/usage/service";
import { forEachSlice, type SliceFilter } from "../../modules/usage/slices";

export interface AccountUsage {
  accountId: string;
  name: string | null;
  requests: number;
  tokens: number;
  costMicros: number;
}

type Sums = { requests: number; tokens: number; costMicros: number };

/** Usage totals per account for a filter (raw rows plus rolled-up history), biggest spenders first; summed in slices. */
export async function usageByAccount(store: SqliteStore, f: UsageFilter, limit = 100): Promise<AccountUsage[]> {
  const sums = new Map<string, Sums>();
  const add = (r: Sums & { accountId: string }) => {
    const prev = sums.get(r.accountId) ?? { requests: 0, tokens: 0, costMicros: 0 };
    sums.set(r.accountId, { requests: prev.requests + r.requests, tokens: prev.tokens + r.tokens, costMicros: prev.costMicros + r.costMicros });
  };
  const select = "account_id AS accountId, count(*) AS requests, sum(prompt_tokens + completion_tokens) AS tokens, sum(cost_micros) AS costMicros";
  await forEachSlice(store, { accountId: f.accountId, model: f.model, from: f.from, to: f.to }, (slice) => {
    const w = rawWhere(slice);
    for (const r of store.prepared(`SELECT ${select} FROM usage_log ${w.sql} GROUP BY account_id`).all(...w.args) as (Sums & { accountId: string })[]) add(r);
  });
  const d = dailyWhere(f);
  const daily = store.prepared(
    `SELECT account_id AS accountId, sum(requests) AS requests, sum(prompt_tokens + completion_tokens) AS tokens, sum(cost_micros) AS costMicros
     FROM usage_daily ${d.sql} GROUP BY account_id`,
  );
  for (const r of daily.all(...d.args) as (Sums & { accountId: string })[]) add(r);
  const top = [...sums].sort(([, x], [, y]) => y.costMicros - x.costMicros || y.requests - x.requests).slice(0, limit);
  const name = store.prepared("SELECT name FROM accounts WHERE id = ?");
  return top.map(([accountId, t]) => ({ accountId, name: (name.get(accountId) as { name: string } | null)?.name ?? null, ...t }));
}

function rawWhere(f: Omit<UsageFilter, "keyId">) {
  const parts: string[] = [];
  const args: (string | number)[] = [];
  if (f.accountId) (parts.push("account_id = ?"), args.push(f.accountId));
  if (f.model) (parts.push("model = ?"), args.push(f.model));
  if (f.from !== undefined) (parts.push("created_at >= ?"), args.push(f.from));
  if (f.to !== undefined) (parts.push("created_at < ?"), args.push(f.to));
  return { sql: parts.length ? `WHERE ${parts.join(" AND ")}` : "", args };
}

function dailyWhere(f: UsageFilter) {
  const parts: string[] = [];
  const args: (string | number)[] = [];
  if (f.accountId) (parts.push("account_id = ?"), args.push(f.accountId));
  if (f.model) (parts.push("model = ?"), args.push(f.model));
  if (f.from !== undefined) (parts.push("day >= ?"), args.push(isoDay(f.from)));
  if (f.to !== undefined) (parts.push("day < ?"), args.push(isoDay(f.to + 86_400_000 - 1)));
  return { sql: parts.length ? `WHERE ${parts.join(" AND ")}` : "", args };
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export interface ModelTraffic {
  model: string;
  /** What served the requests: `<provider>#<key>/<upstream model>`, or "—" when no upstream answered. */
  provider: string;
  requests: number;
  upstreamErrors: number;
  clientErrors: number;
  avgLatencyMs: number;
  avgTtftMs: number | null;
  lastErrorAt: number | null;
  lastErrorCode: string | null;
}

/** A 5xx the upstream caused: not the gateway's own (restarting, no upstream left to try). */
const UPSTREAM_ERROR = "status >= 500 AND upstream IS NOT NULL AND coalesce(error_code, '') NOT IN ('server_shutting_down', 'server_busy')";

type TrafficSums = {
  model: string; provider: string; requests: number; upstreamErrors: number; clientErrors: number;
  latency: number; ttft: number; ttftCount: number; lastErrorAt: number | null;
};

/** Observed upstream behaviour per model and what served it since `since` (from the usage log, read in slices). */
export async function trafficSince(store: SqliteStore, since: number): Promise<ModelTraffic[]> {
  const sums = new Map<string, TrafficSums>();
  const query = store.prepared(
    `SELECT model, coalesce(upstream, '—') AS provider, count(*) AS requests,
       sum(CASE WHEN ${UPSTREAM_ERROR} THEN 1 ELSE 0 END) AS upstreamErrors,
       sum(CASE WHEN status >= 400 AND status < 500 THEN 1 ELSE 0 END) AS clientErrors,
       sum(latency_ms) AS latency, coalesce(sum(ttft_ms), 0) AS ttft, count(ttft_ms) AS ttftCount,
       max(CASE WHEN ${UPSTREAM_ERROR} THEN created_at END) AS lastErrorAt
     FROM usage_log WHERE created_at >= ? AND created_at < ? GROUP BY model, provider`,
  );
  await forEachSlice(store, { from: since } as SliceFilter, (slice) => {
    for (const r of query.all(slice.from!, slice.to ?? Number.MAX_SAFE_INTEGER) as TrafficSums[]) addTraffic(sums, r);
  });
  const lastCode = store.prepared(`SELECT error_code FROM usage_log WHERE model = ? AND coalesce(upstream, '—') = ? AND created_at = ? AND ${UPSTREAM_ERROR} LIMIT 1`);
  return [...sums.values()].sort((a, b) => b.requests - a.requests).map((r) => ({
    model: r.model,
    provider: r.provider,
    requests: r.requests,
    upstreamErrors: r.upstreamErrors,
    clientErrors: r.clientErrors,
    avgLatencyMs: Math.trunc(r.latency / r.requests),
    avgTtftMs: r.ttftCount ? Math.trunc(r.ttft / r.ttftCount) : null,
    lastErrorAt: r.lastErrorAt,
    lastErrorCode: r.lastErrorAt === null ? null : (lastCode.get(r.model, r.provider, r.lastErrorAt) as { error_code: string | null } | null)?.error_code ?? null,
  }));
}

function addTraffic(sums: Map<string, TrafficSums>, r: TrafficSums): void {
  const key = `${r.model}\u0000${r.provider}`;
  const p = sums.get(key);
  sums.set(key, !p ? r : {
    model: r.model, provider: r.provider, requests: p.requests + r.requests, upstreamErrors: p.upstreamErrors + r.upstreamErrors,
    clientErrors: p.clientErrors + r.clientErrors, latency: p.latency + r.latency, ttft: p.ttft + r.ttft,
    ttftCount: p.ttftCount + r.ttftCount, lastErrorAt: Math.max(p.lastErrorAt ?? 0, r.lastErrorAt ?? 0) || null,
  });
}

export interface ProbeResult {
  provider: string;
  ok: boolean;
  status: number | null;
  ms: number;
  message: string;
}

/**
 * Asks a provider for its model list with the configured key: reachable, key accepted, how fast.
 * Never called inside a transaction; the key is sent only to the configured base URL.
 */
export async function probeProvider(p: Provider, key: string | undefined, label: string, timeoutMs = 5_000): Promise<ProbeResult> {
  const started = performance.now();
  try {
    const res = await fetch(`${p.base_url}/models`, {
      headers: { ...p.headers, ...(key ? { authorization: `Bearer ${key}` } : {}) },
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    const ms = Math.round(performance.now() - started);
    const message = res.ok
      ? "Reachable, and the key is accepted."
      : res.status === 401 || res.status === 403 || res.status === 400
        ? "Reachable, but the upstream refused the key."
        : `Reachable, but it answered HTTP ${res.status}.`;
    return { provider: label, ok: res.ok, status: res.status, ms, message };
  } catch (e) {
    const ms = Math.round(performance.now() - started);
    const timeout = (e as Error).name === "TimeoutError";
    return { provider: label, ok: false, status: null, ms, message: timeout ? `No answer within ${timeoutMs / 1000} s.` : `Unreachable: ${(e as Error).message}` };
  }
}

/** What the console shows for a key: its name, or its masked form when it has none. */
export function keyLabels(store: SqliteStore, ids: readonly (string | null)[]): Map<string, string> {
  const q = store.prepared("SELECT name, prefix, last4 FROM api_keys WHERE id = ?");
  const out = new Map<string, string>();
  for (const id of new Set(ids)) {
    const k = id ? (q.get(id) as { name: string; prefix: string; last4: string } | null) : null;
    if (id && k) out.set(id, k.name || `${k.prefix}…${k.last4}`);
  }
  return out;
}

/** Keys for a filter's select: an account's, or every account's (named "account · key"), newest first. */
export function keyChoices(store: SqliteStore, accountId?: string, limit = 500): { value: string; label: string }[] {
  const rows = store
    .prepared(
      `SELECT k.id, k.name, k.prefix, k.last4, a.name AS account FROM api_keys k JOIN accounts a ON a.id = k.account_id
       ${accountId ? "WHERE k.account_id = ?" : ""} ORDER BY k.created_at DESC LIMIT ?`,
    )
    .all(...(accountId ? [accountId, limit] : [limit])) as { id: string; name: string; prefix: string; last4: string; account: string }[];
  return rows.map((k) => {
    const name = k.name || `${k.prefix}…${k.last4}`;
    return { value: k.id, label: accountId ? name : `${k.account} · ${name}` };
  });
}
