/**
 * An image edit is billed for its source images as well as the images made (xAI bills inputs
 * and outputs), but only when the upstream made an image or reports a cost for the edit: one it
 * refused with a 200 and no image (a moderation block, `data: []`, a cost of 0 or none) charges
 * nothing, as the same refusal of a generation does, and shows a cost of 0.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { fakeCatalogue, SINGLE_SHOT } from "./support/fake-upstream";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(30_000);

/** grok-imagine-image's price per image (0.02 USD), in micros. */
const IMAGE = 20_000;
const TICKS_PER_MICRO = 10_000;
let answer: Record<string, unknown> = {};
const up = Bun.serve({
  port: 0, hostname: "127.0.0.1",
  async fetch(req) {
    await req.arrayBuffer();
    return Response.json(answer);
  },
});
let gw: Gateway;
let alice: Customer;
beforeAll(async () => {
  gw = await startGateway({ config: { ...fakeCatalogue(`http://127.0.0.1:${up.port}/v1`), ...SINGLE_SHOT } });
  alice = await gw.customer(10_000_000);
});
afterAll(async () => {
  await gw.stop();
  up.stop(true);
});

const sources = { images: [{ url: "https://example.com/1.png" }, { url: "https://example.com/2.png" }] };

/** Posts to `path` with the upstream answering `a`: the status, the answer and what it charged. */
async function billed(path: string, a: Record<string, unknown>, body: Record<string, unknown> = {}): Promise<{ status: number; json: { usage?: { cost_in_usd_ticks?: number } }; charged: number }> {
  answer = a;
  const before = await gw.balance(alice.accountId);
  const res = await fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${alice.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "grok-imagine-image", prompt: "blocked", ...body }),
  });
  const json = (await res.json()) as { usage?: { cost_in_usd_ticks?: number } };
  return { status: res.status, json, charged: before - (await gw.balance(alice.accountId)) };
}

test("an edit refused with no image and no cost charges nothing, as a refused generation does", async () => {
  const refused = { created: 1, data: [], usage: { cost_in_usd_ticks: 0 } };
  const gen = await billed("/v1/images/generations", refused);
  expect(gen.status).toBe(200);
  expect(gen.charged).toBe(0);
  const edit = await billed("/v1/images/edits", refused, sources);
  expect(edit.status).toBe(200);
  expect(edit.charged).toBe(0);
  expect(edit.json.usage?.cost_in_usd_ticks).toBe(0);
  // Without any usage either.
  expect((await billed("/v1/images/edits", { created: 1, data: [] }, sources)).charged).toBe(0);
  expect((await gw.account(alice.accountId)).held_micros).toBe(0);
});

test("an edit with no image whose cost shows its inputs billed is charged its sources; one that made an image, its sources too", async () => {
  const billedInputs = await billed("/v1/images/edits", { created: 1, data: [], usage: { cost_in_usd_ticks: 2 * IMAGE * TICKS_PER_MICRO } }, sources);
  expect(billedInputs.charged).toBe(2 * IMAGE);
  expect(billedInputs.json.usage?.cost_in_usd_ticks).toBe(2 * IMAGE * TICKS_PER_MICRO);
  const made = await billed("/v1/images/edits", { created: 1, data: [{ url: "https://example.com/out.png" }] }, sources);
  expect(made.charged).toBe(3 * IMAGE);
});
