/**
 * The built-in catalogue keeps the ids xAI retired on 2026-05-15 working, as xAI itself does:
 * each is sent upstream as the model that serves it now (grok-4.3, or grok-imagine-image-quality
 * for grok-imagine-image-pro) and billed at that model's prices, so a client written against xAI's
 * older ids keeps working once it points at the gateway.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";

let up: MockUpstream;
let gw: Gateway;
beforeAll(async () => {
  up = startFakeUpstream();
  gw = await startGateway({ config: { xai_base_url: up.url, xai_api_key: "xai-upstream-key-0123456789" } });
});
afterAll(async () => {
  await gw.stop();
  await up.stop();
});

const post = (key: string, path: string, body: unknown) =>
  fetch(gw.url + path, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
const RETIRED = ["grok-4-0709", "grok-3", "grok-code-fast-1", "grok-4-fast-reasoning", "grok-4-fast-non-reasoning", "grok-4-1-fast-reasoning", "grok-4-1-fast-non-reasoning"];

test("retired chat ids answer, served by grok-4.3 and billed at its prices", async () => {
  const c = await gw.customer(10_000_000);
  const seen: Record<string, [number, unknown, number]> = {};
  for (const model of RETIRED) {
    const before = await gw.balance(c.accountId);
    const r = await post(c.key, "/v1/chat/completions", { model, messages: [{ role: "user", content: "Hi" }], mock: { prompt_tokens: 1000, completion_tokens: 100 } });
    await r.arrayBuffer();
    seen[model] = [r.status, up.requests.at(-1)!.body.model, before - (await gw.balance(c.accountId))];
  }
  // grok-4.3: $1.25 input and $2.50 output per 1M tokens.
  expect(seen).toEqual(Object.fromEntries(RETIRED.map((m) => [m, [200, "grok-4.3", 1000 * 1.25 + 100 * 2.5]])));
  const listed = ((await (await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${c.key}` } })).json()) as { data: { id: string }[] }).data.map((m) => m.id);
  expect(listed).toEqual(expect.arrayContaining(RETIRED));
});

test("grok-imagine-image-pro answers, served and billed as grok-imagine-image-quality", async () => {
  const c = await gw.customer(10_000_000);
  const r = await post(c.key, "/v1/images/generations", { model: "grok-imagine-image-pro", prompt: "a cat" });
  expect(r.status).toBe(200);
  expect(up.requests.at(-1)!.body.model).toBe("grok-imagine-image-quality");
  expect(10_000_000 - (await gw.balance(c.accountId))).toBe(50_000);
});
