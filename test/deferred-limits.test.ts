/**
 * Polls of deferred completions and the operator's shared upstream key. A poll the gateway must
 * ask the upstream about is a request of the key's rate limits (rpm, concurrency): past them it
 * is the usual 429, and the upstream is not asked. Polls the gateway answers itself are free:
 * the upstream's last answer within the poll interval, and a result once fetched, which the
 * gateway keeps (in its row, and in bounded memory) since the upstream serves a result once. The result is
 * still charged once and shown to its owner only. The background run that settles what nobody
 * fetched never overlaps itself.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { settleDeferred } from "../src/gateway/deferred-results";
import { DEFERRED_POLL_INTERVAL_MS } from "../src/modules/deferred/polls";
import { chat, until, user } from "./support/chat";
import { fakeCatalogue } from "./support/fake-upstream";
import { RATE_LIMITED, startGateway, TestClock, type Customer, type Gateway } from "./support/gateway";
import { chargeRows } from "./support/resilience";

setDefaultTimeout(120_000);

const POLL = "/v1/chat/deferred-completion/";
const TICKS_PER_MICRO = 10_000;
/** 7 prompt and 5 completion tokens of grok-4 (input 3, output 15 micros per token). */
const CHARGE = 7 * 3 + 5 * 15;

const poll = (g: Gateway, c: Customer, id: string) => fetch(`${g.url}${POLL}${id}`, { headers: { authorization: `Bearer ${c.key}` } });
const limit = async (g: Gateway, c: Customer, body: Record<string, number>) =>
  expect((await g.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body })).status).toBe(200);

async function park(g: Gateway, c: Customer, mock?: Record<string, number>): Promise<string> {
  const made = await chat(g.url, c.key, { model: "grok-4", messages: user("later"), max_tokens: 50, deferred: true, ...(mock ? { mock } : {}) });
  expect(made.status).toBe(200);
  return ((await made.json()) as { request_id: string }).request_id;
}

describe("on the mock upstream", () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({ upstream: true });
  });
  afterAll(() => gw?.stop());
  const upstreamPolls = () => gw.upstream.requests.filter((r) => r.method === "GET" && r.path.startsWith(POLL)).length;

  test("past the key's rpm, a poll that must ask the upstream is a 429 in OpenAI's shape with retry-after, and the upstream is not asked", async () => {
    const a = await gw.customer(10_000_000);
    await limit(gw, a, { rpm: 3 });
    const ids = [await park(gw, a, { deferred_ms: 600_000 }), await park(gw, a, { deferred_ms: 600_000 }), await park(gw, a, { deferred_ms: 600_000 })];
    const before = upstreamPolls();
    const res = await poll(gw, a, ids[0]!);
    expect(res.status).toBe(429);
    const body = (await res.json()) as { error: { type: string; code: string; message: string } };
    expect({ type: body.error.type, code: body.error.code }).toEqual({ type: "requests", code: "rate_limit_exceeded" });
    expect(body.error.message).toContain("requests per min (RPM)");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(res.headers.get("retry-after-ms"))).toBeGreaterThan(0);
    expect(res.headers.get("x-request-id")).toStartWith("req_");
    expect(res.headers.get("x-ratelimit-limit-requests")).toBe("3");
    expect(upstreamPolls()).toBe(before);
  });

  test("a key polling many pending ids asks the upstream no more often than its rpm lets it", async () => {
    const a = await gw.customer(10_000_000);
    await limit(gw, a, { rpm: 10 });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await park(gw, a, { deferred_ms: 600_000 }));
    const before = upstreamPolls();
    const statuses: Record<number, number> = {};
    const t0 = performance.now();
    while (performance.now() - t0 < 4_000) {
      await Promise.all(ids.map(async (id) => {
        const r = await poll(gw, a, id);
        await r.arrayBuffer();
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      }));
      await Bun.sleep(DEFERRED_POLL_INTERVAL_MS + 10);
    }
    // 10 a minute refill one request every 6 s: at most one or two in 4 s (slow machines), never one per id and interval.
    expect(upstreamPolls() - before).toBeLessThanOrEqual(2);
    expect(Object.keys(statuses).sort()).toContain("429");
    expect(Object.keys(statuses).every((s) => s === "202" || s === "429")).toBe(true);
  });

  test("polls sharing the upstream's answer for an id are free: past the rpm they all get it", async () => {
    const a = await gw.customer(10_000_000);
    await limit(gw, a, { rpm: 2 });
    const id = await park(gw, a, { deferred_ms: 600_000 });
    const before = upstreamPolls();
    // The second request of the minute asks the upstream; the key has none left after it.
    const polls = await Promise.all(Array.from({ length: 20 }, () => poll(gw, a, id).then((r) => r.status)));
    expect(polls).toEqual(Array(20).fill(202));
    expect(upstreamPolls() - before).toBe(1);
  });

  test("a charged result is kept: later polls never ask the upstream again, are free past the rpm, show the one charge, and reach only its owner", async () => {
    const a = await gw.customer(10_000_000);
    await limit(gw, a, { rpm: 3 });
    const id = await park(gw, a, { deferred_ms: 50, prompt_tokens: 7, completion_tokens: 5 });
    await Bun.sleep(100);
    const before = upstreamPolls();
    const first = await poll(gw, a, id);
    expect(first.status).toBe(200);
    const body = await first.text();
    expect((JSON.parse(body) as { usage: { cost_in_usd_ticks: number } }).usage.cost_in_usd_ticks).toBe(CHARGE * TICKS_PER_MICRO);
    expect(upstreamPolls() - before).toBe(1);
    // Past the poll interval each time; two park-and-poll requests of the 3 a minute are used.
    const later: { status: number; body: string }[] = [];
    for (let i = 0; i < 5; i++) {
      await Bun.sleep(DEFERRED_POLL_INTERVAL_MS + 50);
      const r = await poll(gw, a, id);
      later.push({ status: r.status, body: await r.text() });
    }
    expect(later).toEqual(Array(5).fill({ status: 200, body }));
    expect(upstreamPolls() - before).toBe(1);
    // Another account: 404, and the upstream is not asked.
    const b = await gw.customer(10_000_000);
    expect((await poll(gw, b, id)).status).toBe(404);
    expect(upstreamPolls() - before).toBe(1);
    const db = gw.runtime.deps.store.sqlite;
    expect(chargeRows(db, a.accountId).filter((r) => r.request_id === id).map((r) => -r.amount_micros)).toEqual([CHARGE]);
    expect(gw.runtime.deps.credits.balance(a.accountId)).toMatchObject({ balance: 10_000_000 - CHARGE, held: 0 });
  });

  test("a result the gateway's poller charged is answered to its owner without asking the upstream", async () => {
    const a = await gw.customer(10_000_000);
    const id = await park(gw, a, { deferred_ms: 50, prompt_tokens: 7, completion_tokens: 5 });
    await Bun.sleep(100);
    const before = upstreamPolls();
    expect(await settleDeferred(gw.runtime.deps, 0)).toBeGreaterThanOrEqual(1);
    const asked = upstreamPolls() - before;
    const r = await poll(gw, a, id);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { usage: { cost_in_usd_ticks: number } }).usage.cost_in_usd_ticks).toBe(CHARGE * TICKS_PER_MICRO);
    expect(upstreamPolls() - before).toBe(asked);
  });

  test("a result no longer kept in memory is read from its request's row at its recorded charge: the upstream, which serves a result once, is not asked", async () => {
    const a = await gw.customer(10_000_000);
    const id = await park(gw, a, { deferred_ms: 50, prompt_tokens: 7, completion_tokens: 5 });
    await Bun.sleep(100);
    const first = await poll(gw, a, id);
    expect(first.status).toBe(200);
    const body = await first.text();
    // One result the size of the whole budget evicts every other.
    const { KEPT_RESULT_CHARS } = await import("../src/gateway/deferred");
    gw.runtime.deps.deferred.results.keep("req_filler", "x".repeat(KEPT_RESULT_CHARS));
    expect(gw.runtime.deps.deferred.results.size.results).toBe(1);
    const before = upstreamPolls();
    const again = await poll(gw, a, id);
    expect({ status: again.status, body: await again.text() }).toEqual({ status: 200, body });
    await Bun.sleep(DEFERRED_POLL_INTERVAL_MS + 50);
    expect((await poll(gw, a, id)).status).toBe(200);
    expect(upstreamPolls() - before).toBe(0);
    const db = gw.runtime.deps.store.sqlite;
    expect(chargeRows(db, a.accountId).filter((r) => r.request_id === id).map((r) => -r.amount_micros)).toEqual([CHARGE]);
  });
});

/** An upstream that parks every deferred request and answers its polls after `delayMs`: 202, or a completion once `ready`. */
function slowUpstream() {
  const st = { delayMs: 0, ready: false, polled: [] as string[] };
  const completion = { id: "c", object: "chat.completion", model: "grok-4", choices: [{ index: 0, message: { role: "assistant", content: "x" }, finish_reason: "stop" }], usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 } };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      if (req.method === "POST") {
        await req.arrayBuffer();
        return Response.json({ request_id: `up-${crypto.randomUUID()}` });
      }
      const path = new URL(req.url).pathname;
      if (!path.includes("/chat/deferred-completion/")) return new Response(null, { status: 404 });
      st.polled.push(path.slice(path.lastIndexOf("/") + 1));
      if (st.delayMs) await Bun.sleep(st.delayMs);
      return st.ready ? Response.json(completion) : new Response(null, { status: 202 });
    },
  });
  return { st, url: `http://127.0.0.1:${server.port}/v1`, stop: () => server.stop(true) };
}

describe("behind a slow upstream", () => {
  let up: ReturnType<typeof slowUpstream>;
  let gw: Gateway;
  beforeAll(async () => {
    up = slowUpstream();
    gw = await startGateway({ config: fakeCatalogue(up.url) });
  });
  afterAll(async () => {
    await gw?.stop();
    up?.stop();
  });

  test("a poll that asks the upstream holds one of the key's concurrency slots; polls sharing that fetch take none", async () => {
    const a = await gw.customer(10_000_000);
    await limit(gw, a, { concurrency: 1 });
    const [x, y] = [await park(gw, a), await park(gw, a)];
    up.st.delayMs = 500;
    const both = await Promise.all([poll(gw, a, x), poll(gw, a, y)]);
    expect(both.map((r) => r.status).sort()).toEqual([202, 429]);
    const refused = both.find((r) => r.status === 429)!;
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("rate_limit_exceeded");
    expect(refused.headers.get("retry-after")).toBe("1");
    await Bun.sleep(DEFERRED_POLL_INTERVAL_MS + 50);
    const asked = up.st.polled.length;
    const shared = await Promise.all(Array.from({ length: 10 }, () => poll(gw, a, x).then((r) => r.status)));
    expect(shared).toEqual(Array(10).fill(202));
    expect(up.st.polled.length - asked).toBe(1);
    up.st.delayMs = 0;
  });
});

describe("the background settle run", () => {
  let up: ReturnType<typeof slowUpstream>;
  let gw: Gateway;
  /** The server's settle timer's callback, caught as the server starts. */
  let tick: () => void;
  beforeAll(async () => {
    up = slowUpstream();
    const realSetInterval = globalThis.setInterval;
    const caught: (() => void)[] = [];
    globalThis.setInterval = ((fn: () => void, ms?: number, ...rest: unknown[]) => {
      // The one job of a minute (the others run every 5 s, at the snapshot interval or hourly).
      if (ms === 60_000) caught.push(fn);
      return realSetInterval(fn, ms, ...rest);
    }) as typeof setInterval;
    try {
      gw = await startGateway({ config: fakeCatalogue(up.url) });
    } finally {
      globalThis.setInterval = realSetInterval;
    }
    expect(caught.length).toBe(1);
    tick = caught[0]!;
  });
  afterAll(async () => {
    await gw?.stop();
    up?.stop();
  });

  test("a run still going when the timer fires again is not joined by a second one; the next tick after it runs", async () => {
    const a = await gw.customer(10_000_000);
    const ids = [await park(gw, a), await park(gw, a), await park(gw, a)];
    const db = gw.runtime.deps.store.sqlite;
    // Older than the minute a customer is given to fetch them first.
    for (const id of ids) db.run("UPDATE deferred_requests SET created_at = created_at - 120000 WHERE request_id = ?", [id]);
    const upstreamIds = new Set(ids.map((id) => db.query<{ upstream_id: string }, [string]>("SELECT upstream_id FROM deferred_requests WHERE request_id = ?").get(id)!.upstream_id));
    const asked = () => up.st.polled.filter((u) => upstreamIds.has(u)).length;
    up.st.delayMs = 300;
    tick();
    await Bun.sleep(100);
    tick();
    tick();
    // One run asks for the three in turn (about 900 ms).
    await Bun.sleep(1_600);
    expect(asked()).toBe(3);
    // As if a minute had passed (each result is asked for once its interval since the last ask is over).
    gw.runtime.deps.deferred.polled.clear();
    tick();
    await Bun.sleep(1_600);
    expect(asked()).toBe(6);
    // Ready now: the next run charges each once.
    up.st.delayMs = 0;
    up.st.ready = true;
    gw.runtime.deps.deferred.polled.clear();
    tick();
    for (let i = 0; i < 50 && gw.runtime.deps.credits.balance(a.accountId).held > 0; i++) await Bun.sleep(50);
    expect(gw.runtime.deps.credits.balance(a.accountId)).toMatchObject({ balance: 10_000_000 - 3 * CHARGE, held: 0 });
  });
});

describe("KeptResults", () => {
  test("keeps within its budget of characters, the least recently read evicted first; a body above the budget is not kept", async () => {
    // Imported here: the other tests of this file run against a gateway without it too.
    const { KeptResults } = await import("../src/gateway/deferred");
    const kept = new KeptResults(10);
    kept.keep("a", "aaaa");
    kept.keep("b", "bbbb");
    expect(kept.get("a")).toBe("aaaa");
    kept.keep("c", "cccc");
    expect([kept.get("a"), kept.get("b"), kept.get("c")]).toEqual(["aaaa", undefined, "cccc"]);
    expect(kept.size).toEqual({ results: 2, chars: 8 });
    kept.keep("d", "d".repeat(11));
    expect(kept.get("d")).toBeUndefined();
    expect(kept.size).toEqual({ results: 2, chars: 8 });
    kept.keep("a", "aa");
    expect(kept.size).toEqual({ results: 2, chars: 6 });
  });
});

const TPM_PLANS = { tpm2000: { rpm: 1000, tpm: 2000, concurrency: 10 } };

// TPM is charged the estimate at admission and corrected with the real usage at settlement: a
// deferred request's at its result's charge.
describe("TPM of a deferred chat completion", () => {
  test("once its result is fetched and charged, the estimate is corrected to the real usage", async () => {
    const g = await startGateway({ ...RATE_LIMITED, clock: new TestClock(), config: { plans: TPM_PLANS } });
    try {
      g.clock.freeze();
      const c = await g.customer(100_000_000, {}, { plan: "tpm2000" });
      const made = await chat(g.url, c.key, { model: "grok-4", messages: user("later"), max_tokens: 1500, deferred: true, mock: { prompt_tokens: 7, completion_tokens: 5, deferred_ms: 100 } });
      expect(made.status).toBe(200);
      const id = ((await made.json()) as { request_id: string }).request_id;
      await Bun.sleep(200);
      const res = await fetch(`${g.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${c.key}` } });
      expect(res.status).toBe(200);
      const usage = ((await res.json()) as { usage: { total_tokens: number } }).usage;
      expect(usage.total_tokens).toBe(12);
      const tokens = async () => ((await (await g.me(c.key)).json()) as { limits: { remaining: { tokens: number } } }).limits.remaining.tokens;
      // The clock stands still: only the correction can give the estimate back.
      const corrected = await until(async () => (await tokens()) === 2000 - usage.total_tokens, 1000);
      expect({ corrected, remaining: await tokens() }).toEqual({ corrected: true, remaining: 2000 - 12 });
    } finally {
      await g.stop();
    }
  });

  test("usage above the estimate becomes a debt: a deferred request cannot pass the TPM with it", async () => {
    const g = await startGateway({ ...RATE_LIMITED, clock: new TestClock(), config: { plans: TPM_PLANS } });
    try {
      g.clock.freeze();
      const c = await g.customer(100_000_000, {}, { plan: "tpm2000" });
      // Estimated ~110 tokens at admission; the upstream reports 1,900 prompt tokens (images, say).
      const made = await chat(g.url, c.key, { model: "grok-4", messages: user("later"), max_tokens: 100, deferred: true, mock: { prompt_tokens: 1_900, completion_tokens: 100, deferred_ms: 100 } });
      expect(made.status).toBe(200);
      const id = ((await made.json()) as { request_id: string }).request_id;
      await Bun.sleep(200);
      const res = await fetch(`${g.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${c.key}` } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { usage: { total_tokens: number } }).usage.total_tokens).toBe(2_000);
      await Bun.sleep(100);
      // 2,000 tokens used of a 2,000 TPM with the clock standing still: the next request must wait.
      const next = await chat(g.url, c.key, { model: "grok-4", messages: user("now"), max_tokens: 100 });
      expect(next.status).toBe(429);
    } finally {
      await g.stop();
    }
  });
});
