/**
 * A deferred request keeps the prices it was admitted under with its hold: its result is charged
 * the reported usage at those prices, also when the model has left the catalogue (or its prices
 * changed) before the result was fetched, never the whole hold. A row parked before prices were
 * kept, whose model is gone, cannot be priced: released, as any result that cannot be priced.
 * Its upstream cost (for the margins) is found as any answer's: the reported cost, else the
 * model's `upstream_cost` prices (those it was parked under), never unknown when they are set.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chat, user } from "./support/chat";
import { fakeCatalogue, SINGLE_SHOT } from "./support/fake-upstream";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(30_000);

const completion = {
  id: "c", object: "chat.completion", model: "cheap",
  choices: [{ index: 0, message: { role: "assistant", content: "the answer" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 },
};
/** 7 prompt tokens at 0.3 USD/M and 5 completion tokens at 0.5 USD/M, rounded up once. */
const CHARGE = Math.ceil(7 * 0.3 + 5 * 0.5);
const up = Bun.serve({
  port: 0, hostname: "127.0.0.1",
  async fetch(req) {
    if (req.method === "POST") {
      const body = (await req.json()) as { deferred?: boolean };
      return Response.json(body.deferred ? { request_id: `up-${crypto.randomUUID()}` } : completion);
    }
    return Response.json(completion);
  },
});
const dir = mkdtempSync(join(tmpdir(), "tollgate-deferred-prices-"));
afterAll(() => {
  up.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

/** "cheap" as the upstream bills it: 2 and 10 USD per 1M tokens (64 micros for the usage above). */
const UPSTREAM_COST = 7 * 2 + 5 * 10;
const catalogue = fakeCatalogue(`http://127.0.0.1:${up.port}/v1`);
const full = { ...catalogue, models: catalogue.models.map((m) => (m.id === "cheap" ? { ...m, upstream_cost: { input_price: 2, output_price: 10 } } : m)) };
const withoutCheap = { ...full, models: full.models.filter((m) => m.id !== "cheap") };
const poll = (g: Gateway, c: Customer, id: string) => fetch(`${g.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${c.key}` } });

/** A deferred request of "cheap" parked by a gateway since stopped: the customer, its id and its hold. */
async function parked(dbPath: string): Promise<{ c: Customer; id: string; hold: number }> {
  const g = await startGateway({ config: full, dbPath });
  const c = await g.customer(10_000_000);
  const res = await chat(g.url, c.key, { model: "cheap", messages: user("later"), deferred: true });
  expect(res.status).toBe(200);
  const id = ((await res.json()) as { request_id: string }).request_id;
  const hold = (await g.account(c.accountId)).held_micros;
  await g.stop();
  return { c, id, hold };
}

/** Polls `id` on a gateway with `config`: the status and what the poll charged. */
async function fetched(dbPath: string, config: Record<string, unknown>, c: Customer, id: string, before?: (g: Gateway) => void): Promise<{ status: number; charged: number; held: number }> {
  const g = await startGateway({ config, dbPath });
  try {
    before?.(g);
    const balance = await g.balance(c.accountId);
    const res = await poll(g, c, id);
    await res.arrayBuffer();
    return { status: res.status, charged: balance - (await g.balance(c.accountId)), held: (await g.account(c.accountId)).held_micros };
  } finally {
    await g.stop();
  }
}

test("a result whose model left the catalogue is charged its usage at the prices it was parked under, not its hold", async () => {
  const dbPath = join(dir, "gone.db");
  const { c, id, hold } = await parked(dbPath);
  expect(hold).toBeGreaterThan(1000);
  const r = await fetched(dbPath, withoutCheap, c, id);
  expect(r).toEqual({ status: 200, charged: CHARGE, held: 0 });
});

test("prices changed after the request was parked: charged at the prices it was admitted under", async () => {
  const dbPath = join(dir, "repriced.db");
  const { c, id } = await parked(dbPath);
  const dearer = { ...full, models: full.models.map((m) => (m.id === "cheap" ? { ...m, input_price: 3, output_price: 5 } : m)) };
  expect(await fetched(dbPath, dearer, c, id)).toEqual({ status: 200, charged: CHARGE, held: 0 });
});

test("a row parked before prices were kept, its model gone, cannot be priced: released, never charged its hold", async () => {
  const dbPath = join(dir, "legacy.db");
  const { c, id } = await parked(dbPath);
  const r = await fetched(dbPath, withoutCheap, c, id, (g) => g.runtime.deps.store.sqlite.run("UPDATE deferred_requests SET prices = NULL WHERE request_id = ?", [id]));
  expect(r).toEqual({ status: 502, charged: 0, held: 0 });
});

test("…but one charged before its model left is still served from its row for its day, free", async () => {
  const dbPath = join(dir, "legacy-charged.db");
  const { c, id } = await parked(dbPath);
  expect(await fetched(dbPath, full, c, id)).toEqual({ status: 200, charged: CHARGE, held: 0 });
  const again = await fetched(dbPath, withoutCheap, c, id, (g) => g.runtime.deps.store.sqlite.run("UPDATE deferred_requests SET prices = NULL WHERE request_id = ?", [id]));
  expect(again).toEqual({ status: 200, charged: 0, held: 0 });
});

const upstreamCost = (g: Gateway, id: string) =>
  g.runtime.deps.store.sqlite.query<{ upstream_cost_micros: number | null }, [string]>("SELECT upstream_cost_micros FROM usage_log WHERE request_id = ?").get(id)?.upstream_cost_micros;

test("a result without a reported cost records the model's upstream_cost, as the same whole answer does", async () => {
  const g = await startGateway({ config: { ...full, ...SINGLE_SHOT } });
  try {
    const c = await g.customer(10_000_000);
    const whole = await chat(g.url, c.key, { model: "cheap", messages: user("now"), max_tokens: 50 });
    expect(whole.status).toBe(200);
    await whole.arrayBuffer();
    const parkedRes = await chat(g.url, c.key, { model: "cheap", messages: user("later"), max_tokens: 50, deferred: true });
    const { request_id: id } = (await parkedRes.json()) as { request_id: string };
    const res = await poll(g, c, id);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    await g.runtime.deps.credits.flush();
    expect(upstreamCost(g, whole.headers.get("x-request-id")!)).toBe(UPSTREAM_COST);
    expect(upstreamCost(g, id)).toBe(UPSTREAM_COST);
    const margins = (await (await g.admin(`/admin/margins?account_id=${c.accountId}`)).json()) as { totals: { unknown_cost_requests: number; upstream_cost_micros: number } };
    expect(margins.totals).toMatchObject({ unknown_cost_requests: 0, upstream_cost_micros: 2 * UPSTREAM_COST });
  } finally {
    await g.stop();
  }
});

test("…and once its model is gone, the upstream_cost prices it was parked under", async () => {
  const dbPath = join(dir, "cost-gone.db");
  const { c, id } = await parked(dbPath);
  const g = await startGateway({ config: withoutCheap, dbPath });
  try {
    const res = await poll(g, c, id);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    await g.runtime.deps.credits.flush();
    expect(upstreamCost(g, id)).toBe(UPSTREAM_COST);
  } finally {
    await g.stop();
  }
});
