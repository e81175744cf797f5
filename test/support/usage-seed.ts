/**
 * Usage rows for the report tests of both stores: a fixed, varied set (several UTC days, accounts,
 * keys, models, endpoints, statuses; known, unknown and losing upstream costs; rows sharing a
 * millisecond; mixed-case request ids), inserted through units of work, and what reports of
 * them must say, computed here in plain TypeScript.
 */
import type { usageLog } from "../../src/store/schema";
import type { Store } from "../../src/store/store";
import { run, type Q, type Work } from "../../src/store/work";

export type UsageInsert = typeof usageLog.$inferInsert & { createdAt: number; keyId: string | null };

export const DAY = 86_400_000;
/** 00:00 UTC of the first day with usage. */
export const BASE = Date.UTC(2031, 2, 1);
export const DAYS = 5;
export const ACCOUNTS = ["acc_A", "acc_b"] as const;
export const KEYS = [
  { id: "key_A1", accountId: "acc_A", name: "Alpha one" },
  { id: "key_a2", accountId: "acc_A", name: "" },
  { id: "key_B1", accountId: "acc_b", name: "Bravo" },
] as const;
const MODELS = ["grok-4", "grok-3", "grok-4-mini"];
const ENDPOINTS = ["chat.completions", "responses", "messages"];

/** A small deterministic generator (mulberry32): the same rows on every run and store. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `n` usage rows over `days` days from `base`, spread over the accounts and keys above. */
export function usageRows(n = 400, opts: { base?: number; days?: number; seed?: number; tag?: string } = {}): UsageInsert[] {
  const r = random(opts.seed ?? 7);
  const pick = <T>(list: readonly T[]) => list[Math.floor(r() * list.length)]!;
  const out: UsageInsert[] = [];
  for (let i = 0; i < n; i++) {
    const key = pick([...KEYS, null]);
    const accountId = key?.accountId ?? pick(ACCOUNTS);
    const roll = r();
    const status = roll < 0.75 ? 200 : roll < 0.87 ? 500 : 429;
    const cost = status === 200 ? 1_000 + Math.floor(r() * 4_000) : status === 500 ? pick([0, 150]) : 0;
    const upstreamRoll = r();
    const upstreamCost = status === 429 || upstreamRoll < 0.25 ? null : upstreamRoll < 0.45 ? cost + 1 + Math.floor(r() * 500) : Math.floor(cost * 0.7);
    const stream = r() < 0.5;
    // Every eighth row shares the millisecond of the row before it (cursor ties).
    const at = i % 8 === 7 ? out[i - 1]!.createdAt : (opts.base ?? BASE) + Math.floor(r() * (opts.days ?? DAYS) * DAY);
    out.push({
      requestId: `req_${opts.tag ?? ""}${r() < 0.5 ? "a" : "B"}${String(i).padStart(5, "0")}`,
      accountId, keyId: key?.id ?? null, model: pick(MODELS), endpoint: pick(ENDPOINTS), stream, status,
      promptTokens: 10 + Math.floor(r() * 500), cachedTokens: Math.floor(r() * 10), completionTokens: Math.floor(r() * 300),
      reasoningTokens: Math.floor(r() * 20), costMicros: cost, estimated: r() < 0.1, latencyMs: 50 + Math.floor(r() * 900),
      ttftMs: stream ? 20 + Math.floor(r() * 200) : null, upstreamRequestId: status === 429 ? null : `up_${i}`,
      errorCode: status === 200 ? null : status === 429 ? "rate_limited" : pick(["upstream_error", "server_busy"]),
      createdAt: at, upstream: status === 429 ? null : `xai#${1 + (i % 2)}/grok`, overageMicros: upstreamCost !== null && upstreamCost > cost ? 7 : 0,
      upstreamCostMicros: upstreamCost,
    });
  }
  return out;
}

/** The accounts and keys the rows belong to. */
export function* seedOwners(q: Q): Work<void> {
  for (const id of ACCOUNTS) yield* run(q.db.insert(q.t.accounts).values({ id, name: `Account ${id}`, createdAt: BASE - DAY }));
  for (const [i, k] of KEYS.entries()) {
    yield* run(
      q.db.insert(q.t.apiKeys).values({ ...k, hash: `hash_${k.id}`, prefix: "sk-tg-ab", last4: `00${i}x`, createdAt: BASE - DAY + i }),
    );
  }
}

/** Inserts usage rows through units of work, a few hundred per transaction. */
export async function insertUsage(store: Store, rows: UsageInsert[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) {
    const part = rows.slice(i, i + 200);
    await store.tx((q) => run(q.db.insert(q.t.usageLog).values(part)));
  }
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** What dailyUsage must answer for raw rows (no rollups), sorted as it sorts. */
export function expectedDaily(rows: UsageInsert[]) {
  const m = new Map<string, { day: string; model: string; requests: number; prompt_tokens: number; cached_tokens: number; completion_tokens: number; reasoning_tokens: number; cost_micros: number }>();
  for (const r of rows) {
    const k = `${isoDay(r.createdAt)} ${r.model}`;
    const e = m.get(k) ?? { day: isoDay(r.createdAt), model: r.model, requests: 0, prompt_tokens: 0, cached_tokens: 0, completion_tokens: 0, reasoning_tokens: 0, cost_micros: 0 };
    e.requests++;
    e.prompt_tokens += r.promptTokens ?? 0;
    e.cached_tokens += r.cachedTokens ?? 0;
    e.completion_tokens += r.completionTokens ?? 0;
    e.reasoning_tokens += r.reasoningTokens ?? 0;
    e.cost_micros += r.costMicros ?? 0;
    m.set(k, e);
  }
  return [...m.values()].sort((a, b) => (a.day === b.day ? a.model.localeCompare(b.model) : b.day.localeCompare(a.day)));
}

/** Request ids newest first, ties by request id (byte order), as listUsage pages them. */
export function expectedOrder(rows: UsageInsert[]): string[] {
  return [...rows]
    .sort((a, b) => b.createdAt - a.createdAt || (a.requestId < b.requestId ? 1 : a.requestId > b.requestId ? -1 : 0))
    .map((r) => r.requestId);
}
