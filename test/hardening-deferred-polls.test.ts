import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { DeferredResult } from "../src/gateway/deferred-results";
import { DEFERRED_POLL_INTERVAL_MS, DeferredPolls } from "../src/modules/deferred/polls";
import { chat, user } from "./support/chat";
import { startGateway, type Customer, type Gateway } from "./support/gateway";
import { chargeRows, usageRow } from "./support/resilience";

/**
 * Polling GET /v1/chat/deferred-completion/:id asks the upstream with the operator's shared key:
 * the gateway asks it at most once per DEFERRED_POLL_INTERVAL_MS per id (polls in between get its
 * last answer, free) and never twice at once for one id, so that one customer's polling cannot
 * use up the upstream's per-key limits that every customer shares. (A poll that asks the upstream
 * is a request of the key's rate limits: test/deferred-limits.test.ts.) A ready result is still
 * returned and charged exactly once.
 */
setDefaultTimeout(60_000);

const TICKS_PER_MICRO = 10_000;
/** 7 prompt and 5 completion tokens of grok-4 (input 3, output 15 micros per token). */
const CHARGE = 7 * 3 + 5 * 15;

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
});
afterAll(() => gw?.stop());

const POLL_PATH = "/v1/chat/deferred-completion/";
const upstreamPolls = (g: Gateway = gw) => g.upstream.requests.filter((r) => r.method === "GET" && r.path.startsWith(POLL_PATH)).length;
const poll = (g: Gateway, c: Customer, id: string) => fetch(`${g.url}${POLL_PATH}${id}`, { headers: { authorization: `Bearer ${c.key}` } });

async function park(g: Gateway, c: Customer, mock: Record<string, number>): Promise<string> {
  const made = await chat(g.url, c.key, { model: "grok-4", messages: user("later"), max_tokens: 50, deferred: true, mock });
  expect(made.status).toBe(200);
  return ((await made.json()) as { request_id: string }).request_id;
}

/** At most one upstream fetch per interval over `ms`, plus the first and one straddling the end. */
const allowed = (ms: number) => Math.ceil(ms / DEFERRED_POLL_INTERVAL_MS) + 2;

describe("polling a deferred id", () => {
  test("a key polling a pending id 1000 times: all 202, the upstream asked about once per interval", async () => {
    const a = await gw.customer(10_000_000);
    const id = await park(gw, a, { deferred_ms: 60_000 });
    const before = upstreamPolls();
    const t0 = performance.now();
    const statuses = new Map<number, number>();
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let i = 0; i < 50; i++) {
          const r = await poll(gw, a, id);
          await r.arrayBuffer();
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
      }),
    );
    const ms = performance.now() - t0;
    const calls = upstreamPolls() - before;
    expect(Object.fromEntries(statuses)).toEqual({ 202: 1000 });
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(allowed(ms));
  });

  test("the id answered is the gateway's own request id (its x-request-id): polled by it, the upstream is asked under its own id, which the customer never sees", async () => {
    const a = await gw.customer(10_000_000);
    const made = await chat(gw.url, a.key, { model: "grok-4", messages: user("later"), max_tokens: 50, deferred: true, mock: { deferred_ms: 60_000 } });
    const { request_id: id } = (await made.json()) as { request_id: string };
    expect(id).toBe(made.headers.get("x-request-id")!);
    expect((await poll(gw, a, id)).status).toBe(202);
    const asked = gw.upstream.requests.filter((r) => r.method === "GET" && r.path.startsWith(POLL_PATH)).at(-1)!.path.slice(POLL_PATH.length);
    expect(asked).not.toBe(id);
    const row = gw.runtime.deps.store.sqlite.query<{ upstream_id: string }, [string]>("SELECT upstream_id FROM deferred_requests WHERE request_id = ?").get(id);
    expect(row?.upstream_id).toBe(asked);
    // The upstream's id is no id of the customer's.
    expect((await poll(gw, a, asked)).status).toBe(404);
  });

  test("the result, when ready, is named by the gateway's request id, never by the upstream's", async () => {
    const a = await gw.customer(10_000_000);
    const id = await park(gw, a, { deferred_ms: 100 });
    const upstreamId = gw.runtime.deps.store.sqlite.query<{ upstream_id: string }, [string]>("SELECT upstream_id FROM deferred_requests WHERE request_id = ?").get(id)!.upstream_id;
    await Bun.sleep(300);
    const r = await poll(gw, a, id);
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(text).not.toContain(upstreamId);
    expect((JSON.parse(text) as { id: string }).id).toBe(id);
    // Kept, and shown again the same.
    expect(((await (await poll(gw, a, id)).json()) as { id: string }).id).toBe(id);
  });

  test("20 simultaneous polls of one id share one upstream fetch; the next fetch comes after the interval", async () => {
    const a = await gw.customer(10_000_000);
    const id = await park(gw, a, { deferred_ms: 60_000 });
    const before = upstreamPolls();
    const all = await Promise.all(Array.from({ length: 20 }, () => poll(gw, a, id)));
    expect(all.map((r) => r.status)).toEqual(Array(20).fill(202));
    expect(upstreamPolls() - before).toBe(1);
    await Bun.sleep(DEFERRED_POLL_INTERVAL_MS + 50);
    expect((await poll(gw, a, id)).status).toBe(202);
    expect(upstreamPolls() - before).toBe(2);
    // Another account's poll of it: 404, and the upstream is not asked.
    const b = await gw.customer(10_000_000);
    expect((await poll(gw, b, id)).status).toBe(404);
    expect(upstreamPolls() - before).toBe(2);
  });

  test("a result that becomes ready while polled hard is returned to every poll after it, charged exactly once", async () => {
    const a = await gw.customer(10_000_000);
    const id = await park(gw, a, { deferred_ms: 300, prompt_tokens: 7, completion_tokens: 5 });
    const before = upstreamPolls();
    const t0 = performance.now();
    const seen: number[] = [];
    const costs: (number | undefined)[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (performance.now() - t0 < 1_500) {
          const r = await poll(gw, a, id);
          seen.push(r.status);
          if (r.status === 200) costs.push(((await r.json()) as { usage: { cost_in_usd_ticks?: number } }).usage.cost_in_usd_ticks);
          else await r.arrayBuffer();
        }
      }),
    );
    const ms = performance.now() - t0;
    // 202 until ready, then 200: after the first 200, a 202 only to the (at most 9) polls already answered.
    expect(new Set(seen)).toEqual(new Set([202, 200]));
    expect(seen.slice(seen.indexOf(200)).filter((s) => s === 202).length).toBeLessThanOrEqual(9);
    expect(costs.length).toBeGreaterThan(10);
    expect(new Set(costs)).toEqual(new Set([CHARGE * TICKS_PER_MICRO]));
    expect(upstreamPolls() - before).toBeLessThanOrEqual(allowed(ms));
    // Charged once: one ledger charge, its usage row, the row's charge, no hold left.
    const db = gw.runtime.deps.store.sqlite;
    expect(chargeRows(db, a.accountId).filter((r) => r.request_id === id).map((r) => -r.amount_micros)).toEqual([CHARGE]);
    expect(usageRow(db, id)).toMatchObject({ status: 200, cost_micros: CHARGE, prompt_tokens: 7, completion_tokens: 5 });
    const row = db.query<{ charge_micros: number | null }, [string]>("SELECT charge_micros FROM deferred_requests WHERE request_id = ?").get(id);
    expect(row?.charge_micros).toBe(CHARGE);
    expect(gw.runtime.deps.credits.balance(a.accountId)).toMatchObject({ balance: 10_000_000 - CHARGE, held: 0 });
  });

  test("behind an upstream that allows 100 calls a second per key, a key polling hard leaves another account served", async () => {
    const real = new URL(gw.upstream.url);
    let windowStart = 0;
    let inWindow = 0;
    const limiter = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const now = Date.now();
        if (now - windowStart >= 1000) (windowStart = now), (inWindow = 0);
        if (++inWindow > 100) return Response.json({ error: "Too many requests for this team" }, { status: 429, headers: { "retry-after": "1" } });
        const url = new URL(req.url);
        return fetch(`${real.origin}${url.pathname}${url.search}`, { method: req.method, headers: req.headers, body: req.method === "GET" ? undefined : await req.arrayBuffer() });
      },
    });
    const g2 = await startGateway({
      upstream: gw.upstream,
      config: { providers: [{ id: "fake", base_url: `http://127.0.0.1:${limiter.port}/v1`, kind: "xai", api_key: "upstream-secret-key-123" }] },
    });
    try {
      const a = await g2.customer(10_000_000);
      const b = await g2.customer(10_000_000);
      const id = await park(g2, a, { deferred_ms: 60_000 });
      const before = upstreamPolls(g2);
      let stop = false;
      const aStatuses = new Map<number, number>();
      const t0 = performance.now();
      const loops = Array.from({ length: 10 }, async () => {
        while (!stop) {
          const r = await poll(g2, a, id);
          await r.arrayBuffer();
          aStatuses.set(r.status, (aStatuses.get(r.status) ?? 0) + 1);
        }
      });
      await Bun.sleep(300);
      const served: number[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await chat(g2.url, b.key, { model: "grok-4", messages: user(), max_tokens: 5 });
        await r.arrayBuffer();
        served.push(r.status);
        await Bun.sleep(50);
      }
      stop = true;
      await Promise.all(loops);
      expect(served).toEqual(Array(20).fill(200));
      // A's polls: all answered 202 (the upstream's pending), never its 429.
      expect([...aStatuses.keys()]).toEqual([202]);
      expect(aStatuses.get(202)).toBeGreaterThan(100);
      expect(upstreamPolls(g2) - before).toBeLessThanOrEqual(allowed(performance.now() - t0));
    } finally {
      await g2.stop({ keepUpstream: true });
      limiter.stop(true);
    }
  });
});

describe("DeferredPolls memory", () => {
  const pending: DeferredResult = { status: 202 };
  test("an answer stands for one interval, then the entry is gone; an error stands too; a release is never remembered", async () => {
    let now = 0;
    const polls = new DeferredPolls(1_000, () => now);
    let fetches = 0;
    const fetchPending = async () => (fetches++, pending);
    expect(await polls.poll("r1", fetchPending)).toEqual(pending);
    expect(await polls.poll("r1", fetchPending)).toEqual(pending);
    expect(fetches).toBe(1);
    expect(polls.size).toEqual({ remembered: 1, fetching: 0 });
    now = 999;
    await polls.poll("r1", fetchPending);
    expect(fetches).toBe(1);
    now = 1_000;
    expect(polls.size).toEqual({ remembered: 0, fetching: 0 });
    await polls.poll("r1", fetchPending);
    expect(fetches).toBe(2);
    // Many ids: each entry lasts one interval.
    for (let i = 0; i < 1_000; i++) await polls.poll(`many-${i}`, fetchPending);
    expect(polls.size.remembered).toBe(1_001);
    now = 2_000;
    expect(polls.size).toEqual({ remembered: 0, fetching: 0 });
    // An upstream error stands for the interval as well.
    const boom = new Error("upstream 429");
    let failing = 0;
    const fail = async (): Promise<DeferredResult> => (failing++, Promise.reject(boom));
    await expect(polls.poll("r2", fail)).rejects.toBe(boom);
    await expect(polls.poll("r2", fail)).rejects.toBe(boom);
    expect(failing).toBe(1);
    // A released request (404, 502) is not remembered: its row answers from then on.
    const released = async (): Promise<DeferredResult> => ({ status: 404 });
    await polls.poll("r3", released);
    expect(polls.size.remembered).toBe(1);
  });

  test("concurrent polls share the one fetch under way", async () => {
    const polls = new DeferredPolls(1_000, () => 0);
    let fetches = 0;
    let finish!: (r: DeferredResult) => void;
    const slow = () => (fetches++, new Promise<DeferredResult>((r) => (finish = r)));
    const waiting = Array.from({ length: 5 }, () => polls.poll("r", slow));
    await Bun.sleep(1);
    expect(polls.size.fetching).toBe(1);
    finish({ status: 200, body: "{}" });
    expect(await Promise.all(waiting)).toEqual(Array(5).fill({ status: 200, body: "{}" }));
    expect(fetches).toBe(1);
  });
});
