import type { Provider } from "../../config/load";
import { and, count, desc, eq, inArray, sql, type SQL } from "drizzle-orm";
import { accountNames, chunks, num, rollupsWhere, rowsWhere, total } from "../../modules/usage/query";
import type { UsageFilter } from "../../modules/usage/service";
import { forEachSlice } from "../../modules/usage/slices";
import type { Store } from "../../store/store";
import type { Tables } from "../../store/tables";
import { all, get, type Q, type Work } from "../../store/work";

export interface AccountUsage {
  accountId: string;
  name: string | null;
  requests: number;
  tokens: number;
  costMicros: number;
}

type Sums = { requests: number; tokens: number; costMicros: number };
type AccountSums = Sums & { accountId: string };

/** Usage totals per account for a filter (raw rows plus rolled-up history), biggest spenders first; summed in slices. */
export async function usageByAccount(store: Store, f: UsageFilter, limit = 100): Promise<AccountUsage[]> {
  const sums = new Map<string, Sums>();
  const add = (r: AccountSums) => {
    const prev = sums.get(r.accountId) ?? { requests: 0, tokens: 0, costMicros: 0 };
    sums.set(r.accountId, { requests: prev.requests + r.requests, tokens: prev.tokens + r.tokens, costMicros: prev.costMicros + r.costMicros });
  };
  // By account, model and time only (the console filters no key), on the raw rows and the rollups alike.
  const g: UsageFilter = { accountId: f.accountId, model: f.model, from: f.from, to: f.to };
  await forEachSlice(store, g, function* (q, slice) {
    const t = q.t.usageLog;
    const rows = yield* all(
      q.db
        .select({ accountId: t.accountId, requests: count(), tokens: total(sql`${t.promptTokens} + ${t.completionTokens}`), costMicros: total(t.costMicros) })
        .from(t)
        .where(rowsWhere(t, slice))
        .groupBy(t.accountId),
    );
    for (const r of rows) add(r);
  });
  for (const r of await store.read((q) => rolledUpByAccount(q, g))) add(r);
  const top = [...sums].sort(([, x], [, y]) => y.costMicros - x.costMicros || y.requests - x.requests).slice(0, limit);
  const names = await store.read((q) => accountNames(q, top.map(([id]) => id)));
  return top.map(([accountId, t]) => ({ accountId, name: names.get(accountId) ?? null, ...t }));
}

function* rolledUpByAccount(q: Q, f: UsageFilter): Work<AccountSums[]> {
  const d = q.t.usageDaily;
  return yield* all(
    q.db
      .select({ accountId: d.accountId, requests: total(d.requests), tokens: total(sql`${d.promptTokens} + ${d.completionTokens}`), costMicros: total(d.costMicros) })
      .from(d)
      .where(rollupsWhere(d, f))
      .groupBy(d.accountId),
  );
}

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
const upstreamError = (t: Tables["usageLog"]) =>
  sql`${t.status} >= 500 AND ${t.upstream} IS NOT NULL AND coalesce(${t.errorCode}, '') NOT IN ('server_shutting_down', 'server_busy')`;

type TrafficSums = {
  model: string; provider: string; requests: number; upstreamErrors: number; clientErrors: number;
  latency: number; ttft: number; ttftCount: number; lastErrorAt: number | null;
};

/** Traffic sums per model and what served it, over the rows of `f`. */
function* trafficRows(q: Q, f: UsageFilter): Work<TrafficSums[]> {
  const t = q.t.usageLog;
  const err = upstreamError(t);
  const rows = yield* all(
    q.db
      .select({
        model: t.model, upstream: t.upstream, requests: count(),
        upstreamErrors: total(sql`CASE WHEN ${err} THEN 1 ELSE 0 END`),
        clientErrors: total(sql`CASE WHEN ${t.status} >= 400 AND ${t.status} < 500 THEN 1 ELSE 0 END`),
        latency: total(t.latencyMs), ttft: num(sql`coalesce(sum(${t.ttftMs}), 0)`), ttftCount: num(sql`count(${t.ttftMs})`),
        lastErrorAt: num(sql`max(CASE WHEN ${err} THEN ${t.createdAt} END)`) as SQL<number | null>,
      })
      .from(t)
      .where(rowsWhere(t, f))
      .groupBy(t.model, t.upstream),
  );
  return rows.map(({ upstream, ...r }) => ({ ...r, provider: upstream ?? "—" }));
}

/** The error code of a model's and provider's last upstream error. */
function* lastErrorCode(q: Q, r: TrafficSums): Work<string | null> {
  const t = q.t.usageLog;
  const at = eq(t.createdAt, r.lastErrorAt!);
  const row = yield* get(
    q.db.select({ code: t.errorCode }).from(t).where(and(eq(t.model, r.model), sql`coalesce(${t.upstream}, '—') = ${r.provider}`, at, upstreamError(t))).orderBy(t.requestId).limit(1),
  );
  return row?.code ?? null;
}

/** Observed upstream behaviour per model and what served it since `since` (from the usage log, read in slices). */
export async function trafficSince(store: Store, since: number): Promise<ModelTraffic[]> {
  const sums = new Map<string, TrafficSums>();
  await forEachSlice(store, { from: since }, function* (q, slice) {
    for (const r of yield* trafficRows(q, slice)) addTraffic(sums, r);
  });
  // Ties in a stable order, whichever order the database grouped them in.
  const list = [...sums.values()].sort((a, b) => b.requests - a.requests || a.model.localeCompare(b.model) || a.provider.localeCompare(b.provider));
  const codes = await store.read(function* (q) {
    const out: (string | null)[] = [];
    for (const r of list) out.push(r.lastErrorAt === null ? null : yield* lastErrorCode(q, r));
    return out;
  });
  return list.map((r, i) => ({
    model: r.model,
    provider: r.provider,
    requests: r.requests,
    upstreamErrors: r.upstreamErrors,
    clientErrors: r.clientErrors,
    avgLatencyMs: Math.trunc(r.latency / r.requests),
    avgTtftMs: r.ttftCount ? Math.trunc(r.ttft / r.ttftCount) : null,
    lastErrorAt: r.lastErrorAt,
    lastErrorCode: codes[i]!,
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
      // Never followed: the key would go to whatever origin a redirect names.
      redirect: "manual",
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
export function keyLabels(store: Store, ids: readonly (string | null)[]): Promise<Map<string, string>> {
  const wanted = [...new Set(ids)].filter((id): id is string => !!id);
  return store.read(function* (q) {
    const k = q.t.apiKeys;
    const out = new Map<string, string>();
    for (const part of chunks(wanted)) {
      const rows = yield* all(q.db.select({ id: k.id, name: k.name, prefix: k.prefix, last4: k.last4 }).from(k).where(inArray(k.id, part)));
      for (const r of rows) out.set(r.id, r.name || `${r.prefix}…${r.last4}`);
    }
    return out;
  });
}

/** Keys for a filter's select: an account's, or every account's (named "account · key"), newest first. */
export async function keyChoices(store: Store, accountId?: string, limit = 500): Promise<{ value: string; label: string }[]> {
  const rows = await store.read((q) => {
    const k = q.t.apiKeys;
    const a = q.t.accounts;
    return all(
      q.db
        .select({ id: k.id, name: k.name, prefix: k.prefix, last4: k.last4, account: a.name })
        .from(k)
        .innerJoin(a, eq(a.id, k.accountId))
        .where(accountId ? eq(k.accountId, accountId) : undefined)
        .orderBy(desc(k.createdAt), desc(k.id))
        .limit(limit),
    );
  });
  return rows.map((k) => {
    const name = k.name || `${k.prefix}…${k.last4}`;
    return { value: k.id, label: accountId ? name : `${k.account} · ${name}` };
  });
}
