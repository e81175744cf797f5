/**
 * Responses requests whose input items carry ids the gateway never recorded (items sent with their
 * content: store:false agent loops echoing output items, client-chosen ids) are looked up, but do
 * not write the settlement journal out on the request path: only an id named alone (an
 * item_reference, previous_response_id) that is missing is worth looking for again.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startGateway, type Gateway } from "./support/gateway";

let gw: Gateway;
let catchUps = 0;
beforeAll(async () => {
  gw = await startGateway({ upstream: true, dbPath: join(mkdtempSync(join(tmpdir(), "tg-refs-")), "t.db") });
  const store = gw.runtime.deps.store as unknown as { catchUp: () => void };
  const orig = store.catchUp.bind(store);
  store.catchUp = () => {
    catchUps++;
    orig();
  };
});
afterAll(() => gw?.stop());

const responses = (key: string, body: Record<string, unknown>) =>
  fetch(`${gw.url}/v1/responses`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });

test("items sent with their content and an unrecorded id cause no journal flush on the request path", async () => {
  const c = await gw.customer(10_000_000);
  const base = { model: "grok-4", store: false, mock: { prompt_tokens: 5, completion_tokens: 5 } };
  const plain = await responses(c.key, { ...base, input: [{ type: "message", role: "user", content: "hi" }] });
  expect(plain.status).toBe(200);
  await plain.arrayBuffer();
  const n0 = catchUps;
  const echoed = [
    { type: "message", role: "user", content: "hi" },
    { type: "message", role: "assistant", id: "msg_unrecorded_1", content: [{ type: "output_text", text: "hello" }] },
    { type: "reasoning", id: "rs_unrecorded_1", summary: [] },
    { type: "message", role: "user", content: "and now?" },
  ];
  for (let i = 0; i < 5; i++) {
    const res = await responses(c.key, { ...base, input: echoed });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }
  console.log("catch-ups (journal flushes) for 5 requests with echoed ids:", catchUps - n0);
  expect(catchUps - n0).toBe(0);
});
