/**
 * An upstream answer the gateway cannot read, found after admission and before the charge: the
 * client gets a 502 `upstream_malformed` in the API's shape, the hold is voided at once (a live
 * hold is never swept), the key's concurrency slot and the traffic lease are freed, and the
 * request has its usage row. Whole answers (chat, Messages, Responses, absurd usage) and streams
 * (an event the tap cannot read). Absurd usage in a stream after content went out is charged
 * the estimate (prompt + delivered) instead: what was delivered is never free.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chat, readSse, until, user } from "./support/chat";
import type { Customer, Gateway } from "./support/gateway";
import { FAST, gatewayOver, usageRow } from "./support/resilience";

setDefaultTimeout(30_000);

const DAY_MS = 86_400_000;

/** What the test upstream answers next: a JSON body (200), or SSE events written then left open. */
let reply: { json: unknown } | { events: string[] } = { json: {} };
let upstream: ReturnType<typeof Bun.serve>;
let gw: Gateway;
let c: Customer;

beforeAll(() => {
  upstream = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch() {
      if ("json" in reply) return Response.json(reply.json);
      const events = reply.events;
      // Left open after the events: only the gateway's own handling may end the stream early.
      const body = new ReadableStream<Uint8Array>({
        start(ctrl) {
          for (const e of events) ctrl.enqueue(new TextEncoder().encode(`data: ${e}\n\n`));
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    },
  });
});
afterAll(async () => {
  await upstream.stop(true);
});

beforeEach(async () => {
  // total_ms well above the test's patience: a stream that recovers only at its deadline fails here.
  const timeouts = { ...FAST.timeouts, stream_gap_ms: 20_000, total_ms: 20_000 };
  gw = await gatewayOver([{ id: "odd", url: `http://127.0.0.1:${upstream.port}/v1` }], { retry: { max_attempts: 1 }, timeouts, hold_ttl_seconds: 60 });
  c = await gw.customer(10_000_000);
  expect((await gw.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { concurrency: 1 } })).status).toBe(200);
});
afterEach(async () => {
  await gw.stop();
});

const post = (path: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  fetch(`${gw.url}/v1${path}`, { method: "POST", headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

/** Nothing held, not even after the sweeper looked ten days later; the usage row says why; the key's one slot is free again. */
async function expectAllGivenBack(requestId: string, status = 502, code = "upstream_malformed"): Promise<void> {
  const credits = gw.runtime.deps.credits;
  expect(credits.openHolds).toBe(0);
  await credits.sweep(Date.now() + 10 * DAY_MS);
  expect((await gw.account(c.accountId)).held_micros).toBe(0);
  expect(credits.balance(c.accountId)).toMatchObject({ held: 0, balance: 10_000_000 });
  expect(usageRow(gw.runtime.deps.store.sqlite, requestId)).toMatchObject({ status, error_code: code, cost_micros: 0 });
  expect(gw.runtime.deps.upstreams.traffic.inFlight).toBe(0);
  reply = { json: { id: "c9", choices: [{ message: { role: "assistant", content: "fine" } }], usage: { prompt_tokens: 3, completion_tokens: 1 } } };
  const next = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 100 });
  expect(next.status).toBe(200);
  await next.json();
}

describe("a whole answer the gateway cannot read", () => {
  test("chat: choices that are not a list, no usage: a 502 in OpenAI's shape; hold voided, the key's only slot free", async () => {
    reply = { json: { id: "c2", choices: "oops" } };
    const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 100 });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { type: "server_error", code: "upstream_malformed" } });
    await expectAllGivenBack(res.headers.get("x-request-id")!);
  });

  test("Messages: content that is not a list, no usage: a 502 in Anthropic's shape; hold voided", async () => {
    reply = { json: { id: "msg_1", type: "message", role: "assistant", content: "oops" } };
    const res = await post("/messages", { model: "grok-4", max_tokens: 100, messages: user() }, { "anthropic-version": "2023-06-01" });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ type: "error", error: { type: "api_error" } });
    expect(res.headers.get("request-id")).toBe(res.headers.get("x-request-id"));
    await expectAllGivenBack(res.headers.get("x-request-id")!);
  });

  test("Responses: output that is not a list, no usage: a 502 in OpenAI's shape; hold voided", async () => {
    reply = { json: { id: "resp_1", object: "response", output: 5 } };
    const res = await post("/responses", { model: "grok-4", input: "Hi", max_output_tokens: 100 });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: "upstream_malformed" } });
    await expectAllGivenBack(res.headers.get("x-request-id")!);
  });

  test("chat: usage beyond any safe integer is refused as malformed, not charged", async () => {
    reply = { json: { id: "c3", choices: [{ message: { content: "hi" } }], usage: { prompt_tokens: 1e300, completion_tokens: 5 } } };
    const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 100 });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: "upstream_malformed" } });
    await expectAllGivenBack(res.headers.get("x-request-id")!);
  });
});

describe("a stream the gateway cannot read", () => {
  const delta = JSON.stringify({ id: "s1", choices: [{ index: 0, delta: { content: "Hello" } }] });

  test("an event its tap cannot read ends the stream at once with an error event; charged what was delivered", async () => {
    reply = { events: [delta, JSON.stringify({ id: "s1", choices: 5 })] };
    const t0 = performance.now();
    const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 100, stream: true });
    expect(res.status).toBe(200);
    const sse = await readSse(res);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(sse.done).toBe(false);
    expect(sse.events.at(-1)).toMatchObject({ error: { code: "upstream_malformed" } });
    const requestId = res.headers.get("x-request-id")!;
    expect(await until(() => usageRow(gw.runtime.deps.store.sqlite, requestId) !== null, 2_000)).toBe(true);
    const row = usageRow(gw.runtime.deps.store.sqlite, requestId)!;
    expect(row).toMatchObject({ status: 502, error_code: "upstream_malformed", estimated: 1 });
    expect(row.cost_micros).toBeGreaterThan(0);
    expect(gw.runtime.deps.credits.openHolds).toBe(0);
    expect(gw.runtime.deps.upstreams.traffic.inFlight).toBe(0);
  });

  test("usage beyond any safe integer after content went out: the prompt and the output delivered, estimated; never free", async () => {
    reply = { events: [delta, JSON.stringify({ id: "s1", choices: [], usage: { prompt_tokens: 1e300, completion_tokens: 1 } }), "[DONE]"] };
    const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 100, stream: true });
    const sse = await readSse(res);
    expect(sse.done).toBe(true);
    const row = usageRow(gw.runtime.deps.store.sqlite, res.headers.get("x-request-id")!)!;
    expect(row).toMatchObject({ status: 200, estimated: 1, completion_tokens: 1 });
    expect(row.cost_micros).toBeGreaterThan(0);
    expect(gw.runtime.deps.credits.balance(c.accountId)).toMatchObject({ held: 0, balance: 10_000_000 - row.cost_micros });
    expect(gw.runtime.deps.credits.openHolds).toBe(0);
    expect(gw.runtime.deps.upstreams.traffic.inFlight).toBe(0);
  });
});
