/**
 * A deferred request keeps the prices it was admitted under with its hold: its result is charged
 * the reported usage at those prices, also when the model has left the catalogue (or its prices
 * changed) before the result was fetched, never the whole hold. A row parked before prices were
 * kept, whose model is gone, cannot be priced: released, as any result that cannot be priced.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chat, user } from "./support/chat";
import { fakeCatalogue } from "./support/fake-upstream";
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
      await req.arrayBuffer();
      return Response.json({ request_id: `up-${crypto.randomUUID()}` });
    }
    return Response.json(completion);
  },
});
const dir = mkdtempSync(join(tmpdir(), "tollgate-deferred-prices-"));
afterAll(() => {
  up.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const full = fakeCatalogue(`http://127.0.0.1:${up.port}/v1`);
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

