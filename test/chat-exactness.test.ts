import { afterAll, beforeAll, expect, test } from "bun:test";
import { checkLedger } from "../src/money/ledger";
import { chat } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";

/**
 * 1,000+ mixed requests (stream and not, usage or not, xAI accounting, upstream errors, malformed
 * and dropped streams, client aborts at random points) with concurrency; then the books must
 * balance to the micro.
 */
const SEED = Number(process.env.EXACTNESS_SEED ?? 20261129);
const REQUESTS = 1200;
const CONCURRENCY = 24;

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PRICES = {
  "grok-4": { input: 3_000_000n, cached: 750_000n, output: 15_000_000n },
  cheap: { input: 300_000n, cached: 75_000n, output: 500_000n },
} as const;
type ModelId = keyof typeof PRICES;
const exactCost = (m: ModelId, prompt: number, cached: number, output: number) => {
  const p = PRICES[m];
  const scaled = BigInt(prompt - cached) * p.input + BigInt(cached) * p.cached + BigInt(output) * p.output;
  return Number((scaled + 999_999n) / 1_000_000n);
};

type Kind = "ok" | "no_usage" | "error" | "malformed" | "drop" | "abort";
interface Outcome {
  requestId: string | null;
  accountId: string;
  kind: Kind;
  status: number;
  completed: boolean;
  expected?: number;
}

let g: Gateway;
beforeAll(async () => {
  g = await startGateway({ upstream: true });
});
afterAll(() => g.stop());

test(`exactness over ${REQUESTS} randomized requests (seed ${SEED})`, async () => {
  const rand = rng(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

  const customers = await Promise.all([50_000_000, 5_000_000, 200_000, 30_000, 8_000].map((c) => g.customer(c)));
  const start = new Map(customers.map((c, i) => [c.accountId, [50_000_000, 5_000_000, 200_000, 30_000, 8_000][i]!]));

  const plans = Array.from({ length: REQUESTS }, () => {
    const kind = pick<Kind>(["ok", "ok", "ok", "ok", "no_usage", "error", "malformed", "drop", "abort", "abort"]);
    const stream = kind === "malformed" || kind === "drop" ? true : rand() < 0.6;
    const content = "x".repeat(int(20, 400));
    const model = pick<ModelId>(["grok-4", "cheap"]);
    const maxTokens = rand() < 0.5 ? int(5, 300) : undefined;
    const reasoning = rand() < 0.3 ? int(1, 40) : 0;
    const completion = int(0, 120);
    const prompt = int(1, content.length); // never above the gateway's byte-count bound
    const cached = rand() < 0.3 ? int(0, prompt) : 0;
    const usage = rand() < 0.5 ? "xai" : "openai";
    return { kind, stream, content, model, maxTokens, reasoning, completion, prompt, cached, usage, includeUsage: rand() < 0.5, abortAfter: int(0, 6), customer: pick(customers) };
  });

  const outcomes: Outcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < plans.length) {
      const index = next;
      const p = plans[next++]!;
      const mock: Record<string, unknown> = {
        tag: index,
        prompt_tokens: p.prompt,
        cached_tokens: p.cached,
        completion_tokens: p.completion,
        reasoning_tokens: p.reasoning,
        usage: p.kind === "no_usage" ? "none" : p.usage,
      };
      if (p.kind === "error") Object.assign(mock, { status: pick([400, 429, 500, 503]) });
      if (p.kind === "malformed") Object.assign(mock, { malformed_after_chunks: int(0, 3), completion_tokens: 10 });
      if (p.kind === "drop") Object.assign(mock, { drop_after_chunks: int(1, 3), completion_tokens: 10 });
      if (p.kind === "abort") Object.assign(mock, p.stream ? { chunk_delay_ms: 5, completion_tokens: 20 } : { delay_ms: 50 });
      const ctrl = new AbortController();
      const body: Record<string, unknown> = { model: p.model, messages: [{ role: "user", content: p.content }], stream: p.stream, mock };
      if (p.maxTokens) body.max_tokens = p.maxTokens;
      if (p.stream && p.includeUsage) body.stream_options = { include_usage: true };
      const o: Outcome = { requestId: null, accountId: p.customer.accountId, kind: p.kind, status: 0, completed: false };
      try {
        if (p.kind === "abort" && !p.stream) setTimeout(() => ctrl.abort(), int(5, 40));
        const res = await chat(g.url, p.customer.key, body, { signal: ctrl.signal });
        o.status = res.status;
        o.requestId = res.headers.get("x-request-id");
        if (p.stream && res.status === 200) {
          const reader = res.body!.getReader();
          let text = "";
          let events = 0;
          for (;;) {
            if (p.kind === "abort" && events >= p.abortAfter) {
              ctrl.abort();
              break;
            }
            const r = await reader.read();
            if (r.done) break;
            const chunk = new TextDecoder().decode(r.value);
            text += chunk;
            events += chunk.split("\n\n").length - 1;
          }
          o.completed = text.includes("data: [DONE]");
        } else {
          await res.text();
          o.completed = res.status === 200;
        }
      } catch {
        // aborted by us
      }
      if (o.completed && p.kind === "ok") {
        // The limit the upstream really got: the client's, or the gateway's balance-based cap.
        const sent = g.upstream.requests.find((r) => (r.body.mock as { tag?: number }).tag === index)!;
        const limit = Number(sent.body.max_tokens ?? Number.POSITIVE_INFINITY);
        const reasoning = Math.min(p.reasoning, limit);
        const completion = Math.min(p.completion, limit - reasoning);
        o.expected = exactCost(p.model, p.prompt, p.cached, completion + reasoning);
      }
      outcomes.push(o);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await Bun.sleep(200); // aborted streams settle on their own
  await g.runtime.deps.credits.flush();

  const db = g.runtime.deps.store.sqlite;
  const charges = db.query<{ request_id: string; account_id: string; amount_micros: number }, []>(
    "SELECT request_id, account_id, amount_micros FROM ledger_entries WHERE kind = 'charge'",
  ).all();
  const byRequest = new Map<string, number>();
  for (const c of charges) {
    expect(byRequest.has(c.request_id)).toBe(false); // one charge per request id
    byRequest.set(c.request_id, -c.amount_micros);
  }

  // Every completed request with real usage was charged usage × price, to the micro.
  const completedWithUsage = outcomes.filter((o) => o.expected !== undefined);
  expect(completedWithUsage.length).toBeGreaterThan(200);
  for (const o of completedWithUsage) expect({ id: o.requestId, charged: byRequest.get(o.requestId!) ?? 0 }).toEqual({ id: o.requestId, charged: o.expected! });

  // Failures before any byte were never charged.
  for (const o of outcomes.filter((x) => x.kind === "error" || x.status === 402)) expect(byRequest.has(o.requestId ?? "")).toBe(false);

  // Every account: balance = start − its charges; ledger consistent; nothing held; never negative.
  expect(await checkLedger(g.runtime.deps.store)).toEqual([]);
  for (const c of customers) {
    const spent = charges.filter((x) => x.account_id === c.accountId).reduce((s, x) => s - x.amount_micros, 0);
    const a = (await (await g.admin(`/admin/accounts/${c.accountId}`)).json()) as { balance_micros: number; held_micros: number };
    expect(a.balance_micros).toBe(start.get(c.accountId)! - spent);
    expect(a.held_micros).toBe(0);
    expect(a.balance_micros).toBeGreaterThanOrEqual(0);
  }
  expect(db.query("SELECT count(*) AS n FROM credit_holds").get()).toEqual({ n: 0 });
  expect(g.runtime.deps.credits.openHolds).toBe(0);

  // The mix really happened.
  const kinds = new Set(outcomes.map((o) => o.kind));
  expect(kinds.size).toBe(6);
  expect(outcomes.filter((o) => o.status === 402).length).toBeGreaterThan(0);
}, 120_000);
