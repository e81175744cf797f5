import type { Config, Provider } from "../../config/load";
import type { Store } from "../../store/store";
import type { UsageFilter } from "../../modules/usage/service";

export interface AccountUsage {
  accountId: string;
  name: string | null;
  requests: number;
  tokens: number;
  costMicros: number;
}

/** Usage totals per account for a filter (raw rows plus rolled-up history), biggest spenders first. */
export function usageByAccount(store: Store, f: UsageFilter, limit = 100): AccountUsage[] {
  const parts: string[] = [];
  const args: (string | number)[] = [];
  const dparts: string[] = [];
  const dargs: (string | number)[] = [];
  if (f.accountId) (parts.push("account_id = ?"), args.push(f.accountId), dparts.push("account_id = ?"), dargs.push(f.accountId));
  if (f.model) (parts.push("model = ?"), args.push(f.model), dparts.push("model = ?"), dargs.push(f.model));
  if (f.from !== undefined) (parts.push("created_at >= ?"), args.push(f.from), dparts.push("day >= ?"), dargs.push(isoDay(f.from)));
  if (f.to !== undefined) (parts.push("created_at < ?"), args.push(f.to), dparts.push("day < ?"), dargs.push(isoDay(f.to + 86_400_000 - 1)));
  const w = parts.length ? `WHERE ${parts.join(" AND ")}` : "";
  const dw = dparts.length ? `WHERE ${dparts.join(" AND ")}` : "";
  return store.sqlite
    .query<AccountUsage, (string | number)[]>(
      `SELECT u.account_id AS accountId, a.name AS name, sum(u.requests) AS requests, sum(u.tokens) AS tokens, sum(u.cost) AS costMicros
       FROM (
         SELECT account_id, count(*) AS requests, sum(prompt_tokens + completion_tokens) AS tokens, sum(cost_micros) AS cost FROM usage_log ${w} GROUP BY account_id
         UNION ALL
         SELECT account_id, sum(requests), sum(prompt_tokens + completion_tokens), sum(cost_micros) FROM usage_daily ${dw} GROUP BY account_id
       ) u LEFT JOIN accounts a ON a.id = u.account_id
       GROUP BY u.account_id ORDER BY costMicros DESC, requests DESC LIMIT ?`,
    )
    .all(...args, ...dargs, limit);
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

/** Observed upstream behaviour per model and what served it since `since` (from the usage log). */
export function trafficSince(store: Store, since: number): ModelTraffic[] {
  const rows = store.sqlite
    .query<Omit<ModelTraffic, "lastErrorCode">, [number]>(
      `SELECT model, coalesce(upstream, '—') AS provider, count(*) AS requests,
         sum(CASE WHEN ${UPSTREAM_ERROR} THEN 1 ELSE 0 END) AS upstreamErrors,
         sum(CASE WHEN status >= 400 AND status < 500 THEN 1 ELSE 0 END) AS clientErrors,
         cast(avg(latency_ms) AS integer) AS avgLatencyMs, cast(avg(ttft_ms) AS integer) AS avgTtftMs,
         max(CASE WHEN ${UPSTREAM_ERROR} THEN created_at END) AS lastErrorAt
       FROM usage_log WHERE created_at >= ? GROUP BY model, provider ORDER BY requests DESC`,
    )
    .all(since);
  const lastCode = store.sqlite.query<{ error_code: string | null }, [string, string, number]>(
    `SELECT error_code FROM usage_log WHERE model = ? AND coalesce(upstream, '—') = ? AND created_at = ? AND ${UPSTREAM_ERROR} LIMIT 1`,
  );
  return rows.map((r) => ({
    ...r,
    lastErrorCode: r.lastErrorAt === null ? null : lastCode.get(r.model, r.provider, r.lastErrorAt)?.error_code ?? null,
  }));
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
