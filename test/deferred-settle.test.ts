/**
 * A deferred completion is settled once, whoever fetches it first and however many fetch it at
 * once (customers, the gateway's own poller): every answer shows the one charge as its cost, and
 * the deferred request's row records that charge, the ledger's.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { pollInterval, settleDeferred } from "../src/gateway/deferred-results";
import { chat, user } from "./support/chat";
import { fakeCatalogue } from "./support/fake-upstream";
import { startGateway, TestClock, type Customer, type Gateway } from "./support/gateway";
import { chargeRows } from "./support/resilience";

setDefaultTimeout(30_000);

const TICKS_PER_MICRO = 10_000;
/** 7 prompt and 5 completion tokens of grok-4 (input 3, output 15 micros per token). */
const CHARGE = 7 * 3 + 5 * 15;

let gw: Gateway;
let c: Customer;

beforeAll(async () => {
  gw = await startGateway({ upstream: true });
  c = await gw.customer(10_000_000);
});
afterAll(async () => {
  await gw?.stop();
});

/** A deferred request whose result the mock upstream has ready; its request id. */
async function readyDeferred(): Promise<string> {
  const mock = { deferred_ms: 100, prompt_tokens: 7, completion_tokens: 5 };
  const res = await chat(gw.url, c.key, { model: "grok-4", messages: user("later"), max_tokens: 50, deferred: true, mock });
  const { request_id: id } = (await res.json()) as { request_id: string };
  await Bun.sleep(150);
  return id;
}

/** The cost a fetch of the result shows (the customer's charge in ticks), after a 200. */
async function fetchCost(id: string): Promise<number | undefined> {
  const res = await fetch(`${gw.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${c.key}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { usage: { cost_in_usd_ticks?: number } }).usage.cost_in_usd_ticks;
}

/** The row's recorded charge and the ledger's charges for the request. */
function books(id: string): { row: number | null; ledger: number[] } {
  const db = gw.runtime.deps.store.sqlite;
  const row = db.query<{ charge_micros: number | null }, [string]>("SELECT charge_micros FROM deferred_requests WHERE request_id = ?").get(id);
  return { row: row?.charge_micros ?? null, ledger: chargeRows(db, c.accountId).filter((r) => r.request_id === id).map((r) => -r.amount_micros) };
}

/** tollgate_charged_micros_total of grok-4: what the settlements' log lines and metrics counted. */
async function chargedMetric(): Promise<number> {
  const text = await (await gw.admin("/metrics")).text();
  return Number(/^tollgate_charged_micros_total\{model="grok-4"\} (\d+)$/m.exec(text)?.[1] ?? 0);
}

describe("a deferred result fetched at once by several", () => {
  test("two simultaneous first fetches and a third after show the same cost; the row records the ledger's charge", async () => {
    const id = await readyDeferred();
    const counted = await chargedMetric();
    const both = await Promise.all([fetchCost(id), fetchCost(id)]);
    const third = await fetchCost(id);
    expect([...both, third]).toEqual([CHARGE * TICKS_PER_MICRO, CHARGE * TICKS_PER_MICRO, CHARGE * TICKS_PER_MICRO]);
    expect(books(id)).toEqual({ row: CHARGE, ledger: [CHARGE] });
    expect(await chargedMetric()).toBe(counted + CHARGE);
    expect(gw.runtime.deps.credits.balance(c.accountId).held).toBe(0);
  });

  test("the gateway's poller racing a customer's fetch settles it once, at its real charge", async () => {
    const id = await readyDeferred();
    const counted = await chargedMetric();
    const [cost, polled] = await Promise.all([fetchCost(id), settleDeferred(gw.runtime.deps, 0)]);
    expect(polled).toBe(1);
    expect(cost).toBe(CHARGE * TICKS_PER_MICRO);
    expect(await fetchCost(id)).toBe(CHARGE * TICKS_PER_MICRO);
    expect(books(id)).toEqual({ row: CHARGE, ledger: [CHARGE] });
    expect(await chargedMetric()).toBe(counted + CHARGE);
  });
});

describe("a ready result that cannot be read or priced", () => {
  /** An upstream that parks every deferred request and answers its result with `result()`. */
  let answer: () => Response;
  let fetches = 0;
  let up: ReturnType<typeof Bun.serve>;
  let g: Gateway;
  let cust: Customer;
  beforeAll(async () => {
    up = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => (req.method === "POST" ? Response.json({ request_id: `up-${crypto.randomUUID()}` }) : (fetches++, answer())),
    });
    g = await startGateway({ config: fakeCatalogue(`http://127.0.0.1:${up.port}/v1`) });
    cust = await g.customer(10_000_000);
  });
  afterAll(async () => {
    await g?.stop();
    up?.stop(true);
  });

  const completion = (usage: Record<string, number>) =>
    Response.json({ id: "c", object: "chat.completion", model: "grok-4", choices: [{ index: 0, message: { role: "assistant", content: "x" }, finish_reason: "stop" }], usage });
  const park = async () => {
    const res = await chat(g.url, cust.key, { model: "grok-4", messages: user("later"), max_tokens: 50, deferred: true });
    return ((await res.json()) as { request_id: string }).request_id;
  };
  const get = (id: string) => fetch(`${g.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${cust.key}` } });
  const usageRow = (id: string) =>
    g.runtime.deps.store.sqlite.query<{ status: number; error_code: string; cost_micros: number }, [string]>("SELECT status, error_code, cost_micros FROM usage_log WHERE request_id = ?").get(id);

  for (const [name, result] of [
    ["HTML instead of JSON", () => new Response("<html>busy</html>", { headers: { "content-type": "text/html" } })],
    ["JSON null", () => Response.json(null)],
    ["absurd usage", () => completion({ prompt_tokens: 1e300, completion_tokens: 5, total_tokens: 1e300 })],
    ["a charge beyond any balance", () => completion({ prompt_tokens: 400_000_000_000_000, completion_tokens: 5, total_tokens: 400_000_000_000_005 })],
  ] as const) {
    test(`${name}: 502 in the caller's shape, the hold back, nothing charged, and never asked again`, async () => {
      answer = result;
      const id = await park();
      const before = g.runtime.deps.credits.balance(cust.accountId);
      expect(before.held).toBeGreaterThan(0);
      const res = await get(id);
      expect(res.status).toBe(502);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("upstream_malformed");
      expect(g.runtime.deps.credits.balance(cust.accountId)).toMatchObject({ balance: before.balance, held: 0 });
      expect(usageRow(id)).toEqual({ status: 502, error_code: "upstream_malformed", cost_micros: 0 });
      // Settled: neither the customer's next fetch nor the poller asks the upstream again.
      const asked = fetches;
      expect((await get(id)).status).toBe(404);
      expect(await settleDeferred(g.runtime.deps, 0)).toBe(0);
      expect(fetches).toBe(asked);
    });
  }

  test("the poller gives up on an unreadable result once, and goes on charging the good ones", async () => {
    answer = () => new Response("not json");
    const bad = await park();
    answer = () => completion({ prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 });
    const good = await park();
    let n = 0;
    answer = () => (n++ === 0 ? new Response("not json") : completion({ prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 }));
    
    expect(await settleDeferred(g.runtime.deps, 0)).toBe(2);
    expect(usageRow(bad)).toMatchObject({ status: 502, cost_micros: 0 });
    expect(usageRow(good)).toMatchObject({ status: 200, cost_micros: CHARGE });
    expect(g.runtime.deps.credits.balance(cust.accountId).held).toBe(0);
  });
});

describe("a deferred result without usage", () => {
  test("is charged the estimate a whole answer without usage is charged, not its hold", async () => {
    const mock = { deferred_ms: 50, usage: "none", text: "A short answer of a few words." };
    const balance = async () => (await gw.balance(c.accountId)) as number;
    const b0 = await balance();
    const plain = await chat(gw.url, c.key, { model: "grok-4", messages: user("later"), max_tokens: 500, mock });
    expect(plain.status).toBe(200);
    await plain.text();
    const b1 = await balance();
    const res = await chat(gw.url, c.key, { model: "grok-4", messages: user("later"), max_tokens: 500, deferred: true, mock });
    const { request_id: id } = (await res.json()) as { request_id: string };
    await Bun.sleep(100);
    const got = await fetch(`${gw.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${c.key}` } });
    expect(got.status).toBe(200);
    await got.text();
    const estimate = b0 - b1;
    expect(estimate).toBeGreaterThan(0);
    expect(estimate).toBeLessThan(500 * 15);
    expect(books(id)).toEqual({ row: estimate, ledger: [estimate] });
    expect(b1 - (await balance())).toBe(estimate);
  });
});

describe("the poller of results nobody fetches", () => {
  let g: Gateway;
  const clock = new TestClock();
  beforeAll(async () => {
    g = await startGateway({ upstream: true, clock, config: { plans: { wide: { rpm: 100_000, tpm: 10_000_000, concurrency: 100 } } } });
  });
  afterAll(async () => {
    await g?.stop();
  });

  test("asks less and less often as a pending result ages, however the runs fall", async () => {
    expect([0, 9, 10, 59, 60, 600].map((m) => pollInterval(m * 60_000))).toEqual([55_000, 55_000, 295_000, 295_000, 1_795_000, 1_795_000]);
    const cust = await g.customer(10_000_000);
    const res = await chat(g.url, cust.key, { model: "grok-4", messages: user("later"), max_tokens: 50, deferred: true, mock: { deferred_ms: 36_000_000 } });
    expect(res.status).toBe(200);
    const polls = () => g.upstream.requests.filter((r) => r.path.startsWith("/v1/chat/deferred-completion/")).length;
    let now = 0;
    /** Runs every `every` minutes from `from` to `to` (its age in minutes); the asks they made. */
    const runs = async (from: number, to: number, every: number) => {
      const before = polls();
      for (let m = from; m <= to; m += every) {
        clock.add(m * 60_000 - now);
        now = m * 60_000;
        await settleDeferred(g.runtime.deps);
      }
      return polls() - before;
    };
    // A minute apart for 10 minutes, 5 for the hour, then 30, whether the runs come every minute or every other.
    expect(await runs(1.5, 9.5, 1)).toBe(9);
    expect(await runs(10.5, 59.5, 1)).toBe(10);
    expect(await runs(61.5, 179.5, 2)).toBe(4);
  });

  test("asks the upstream for at most 200 results a run; the rest wait for the next", async () => {
    const cust = await g.customer(100_000_000, {}, { plan: "wide" });
    for (let i = 0; i < 205; i++) {
      const res = await chat(g.url, cust.key, { model: "grok-4", messages: user("later"), max_tokens: 5, deferred: true, mock: { deferred_ms: 3_600_000 } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const before = g.upstream.requests.length;
    clock.add(2 * 60_000);
    await settleDeferred(g.runtime.deps);
    expect(g.upstream.requests.slice(before).filter((r) => r.path.startsWith("/v1/chat/deferred-completion/")).length).toBe(200);
  });
});
