/**
 * Anthropic's message_delta may give its input counters as null, or leave them out, and a message
 * may have several message_delta events, each usage cumulative: the SDKs keep the last value any
 * event gave ("overwrite when present and never add"), and so does the charge, which reads the
 * stream as the customer's SDK shows it; a cost in the delta is shown as the customer's charge.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { ev, gatewayOn, post, scriptedUpstream, waitRow, type Row, type Scripted } from "./support/scripted-upstream";
import type { Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
let up: Scripted;
let gw: Gateway;
beforeAll(async () => {
  up = scriptedUpstream();
  gw = await gatewayOn(up);
});
afterAll(async () => {
  await gw?.stop();
  up?.stop();
});

const start = (usage: Record<string, unknown>) =>
  ev("message_start", { type: "message_start", message: { id: "msg_1", type: "message", role: "assistant", model: "grok-4-0709", content: [], stop_reason: null, stop_sequence: null, usage } });
const body = [
  ev("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
  ev("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hello" } }),
  ev("content_block_stop", { type: "content_block_stop", index: 0 }),
];

// grok-4: 3 µ/input token, 0.75 µ/cached, 15 µ/output.
test("message_delta usage with null input counters (SDK: null = keep message_start's) is charged message_start's input", async () => {
  const c = await gw.customer(10_000_000);
  up.script = [
    start({ input_tokens: 100, cache_read_input_tokens: 400, cache_creation_input_tokens: 0, output_tokens: 1 }),
    ...body,
    ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { input_tokens: null, cache_creation_input_tokens: null, cache_read_input_tokens: null, output_tokens: 20 } }),
    ev("message_stop", { type: "message_stop" }),
  ];
  const client = new Anthropic({ apiKey: c.key, baseURL: gw.url, maxRetries: 0 });
  const { data: stream, response } = await client.messages.stream({ model: "grok-4", max_tokens: 100, messages: [{ role: "user", content: "hi" }] }).withResponse();
  const final = await stream.finalMessage();
  // What the SDK tells the customer it used:
  expect(final.usage.input_tokens).toBe(100);
  expect(final.usage.cache_read_input_tokens).toBe(400);
  const row = await waitRow(gw, response.headers.get("x-request-id")!);
  expect({ prompt: row!.prompt_tokens, cached: row!.cached_tokens, completion: row!.completion_tokens, estimated: row!.estimated, cost: row!.cost_micros }).toEqual({
    prompt: 500,
    cached: 400,
    completion: 20,
    estimated: 0,
    cost: 100 * 3 + 400 * 0.75 + 20 * 15,
  });
});

test("baseline: message_delta with output only is charged message_start's input", async () => {
  const c = await gw.customer(10_000_000);
  up.script = [
    start({ input_tokens: 100, cache_read_input_tokens: 400, cache_creation_input_tokens: 0, output_tokens: 1 }),
    ...body,
    ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 20 } }),
    ev("message_stop", { type: "message_stop" }),
  ];
  const res = await post(gw, c.key, "/v1/messages", { model: "grok-4", max_tokens: 100, stream: true, messages: [{ role: "user", content: "hi" }] }, { "anthropic-version": "2023-06-01" });
  await res.text();
  const row = await waitRow(gw, res.headers.get("x-request-id")!);
  expect(row!.cost_micros).toBe(100 * 3 + 400 * 0.75 + 20 * 15);
});

test("message_delta with cache_read_input_tokens: null keeps message_start's cache reads (SDK semantics)", async () => {
  const c = await gw.customer(10_000_000);
  up.script = [
    start({ input_tokens: 100, cache_read_input_tokens: 400, cache_creation_input_tokens: 0, output_tokens: 1 }),
    ...body,
    ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { input_tokens: 100, cache_creation_input_tokens: null, cache_read_input_tokens: null, output_tokens: 20 } }),
    ev("message_stop", { type: "message_stop" }),
  ];
  const client = new Anthropic({ apiKey: c.key, baseURL: gw.url, maxRetries: 0 });
  const { data: stream, response } = await client.messages.stream({ model: "grok-4", max_tokens: 100, messages: [{ role: "user", content: "hi" }] }).withResponse();
  const final = await stream.finalMessage();
  expect(final.usage.cache_read_input_tokens).toBe(400);
  const row = await waitRow(gw, response.headers.get("x-request-id")!);
  expect({ prompt: row!.prompt_tokens, cached: row!.cached_tokens, cost: row!.cost_micros, estimated: row!.estimated }).toEqual({ prompt: 500, cached: 400, cost: 100 * 3 + 400 * 0.75 + 20 * 15, estimated: 0 });
});

test("message_delta with null input counters and a cost still shows the customer's charge as its cost", async () => {
  const c = await gw.customer(10_000_000);
  up.script = [
    start({ input_tokens: 100, output_tokens: 1 }),
    ...body,
    ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { input_tokens: null, output_tokens: 20, cost_in_usd_ticks: 99_000_000 } }),
    ev("message_stop", { type: "message_stop" }),
  ];
  const res = await post(gw, c.key, "/v1/messages", { model: "grok-4", max_tokens: 100, stream: true, messages: [{ role: "user", content: "hi" }] }, { "anthropic-version": "2023-06-01" });
  const text = await res.text();
  const delta = JSON.parse(text.split("\n\n").find((e) => e.startsWith("event: message_delta"))!.split("\ndata: ")[1]!);
  const row = await waitRow(gw, res.headers.get("x-request-id")!);
  expect(row!.cost_micros).toBe(100 * 3 + 20 * 15);
  expect(delta.usage.cost_in_usd_ticks).toBe((100 * 3 + 20 * 15) * 10_000);
});

/** A stream through the SDK: what its final message shows, and the request's usage row. */
async function viaSdk(script: string[]) {
  const c = await gw.customer(10_000_000);
  up.script = script;
  const client = new Anthropic({ apiKey: c.key, baseURL: gw.url, maxRetries: 0 });
  const { data: stream, response } = await client.messages.stream({ model: "grok-4", max_tokens: 100, messages: [{ role: "user", content: "hi" }] }).withResponse();
  const final = await stream.finalMessage();
  return { final, row: (await waitRow(gw, response.headers.get("x-request-id")!))! };
}

// web_search: 5,000 µ a call.
test("web_search_requests given only by the first of two message_delta events are charged (the SDK shows them)", async () => {
  const { final, row } = await viaSdk([
    start({ input_tokens: 100, output_tokens: 1 }),
    ...body,
    ev("message_delta", { type: "message_delta", delta: { stop_reason: null, stop_sequence: null }, usage: { output_tokens: 10, server_tool_use: { web_search_requests: 2 } } }),
    ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 20 } }),
    ev("message_stop", { type: "message_stop" }),
  ]);
  expect(final.usage.server_tool_use?.web_search_requests).toBe(2);
  expect(final.usage.output_tokens).toBe(20);
  expect(row.cost_micros).toBe(100 * 3 + 20 * 15 + 2 * 5000);
});

test("input counters given only by the first of two message_delta events are charged (the SDK shows them)", async () => {
  const { final, row } = await viaSdk([
    start({ input_tokens: 100, output_tokens: 1 }),
    ...body,
    ev("message_delta", { type: "message_delta", delta: { stop_reason: null, stop_sequence: null }, usage: { input_tokens: 100, cache_read_input_tokens: 400, output_tokens: 10 } }),
    ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 20 } }),
    ev("message_stop", { type: "message_stop" }),
  ]);
  expect(final.usage.cache_read_input_tokens).toBe(400);
  expect({ prompt: row.prompt_tokens, cached: row.cached_tokens, cost: row.cost_micros, estimated: row.estimated }).toEqual({ prompt: 500, cached: 400, cost: 100 * 3 + 400 * 0.75 + 20 * 15, estimated: 0 });
});

test("input_tokens given only by an earlier message_delta (none in message_start) is the charge, not an estimate", async () => {
  const { final, row } = await viaSdk([
    start({ output_tokens: 1 }),
    ...body,
    ev("message_delta", { type: "message_delta", delta: { stop_reason: null, stop_sequence: null }, usage: { input_tokens: 1000, output_tokens: 10 } }),
    ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 20 } }),
    ev("message_stop", { type: "message_stop" }),
  ]);
  expect(final.usage.input_tokens).toBe(1000);
  expect({ prompt: row.prompt_tokens, cost: row.cost_micros, estimated: row.estimated }).toEqual({ prompt: 1000, cost: 1000 * 3 + 20 * 15, estimated: 0 });
});

test("an earlier message_delta's cost (the output so far) is not the charge when the last one gives none", async () => {
  const c = await gw.customer(10_000_000);
  up.script = [
    start({ input_tokens: 100, output_tokens: 1 }),
    ...body,
    ev("message_delta", { type: "message_delta", delta: { stop_reason: null, stop_sequence: null }, usage: { output_tokens: 10, cost_in_usd_ticks: 10_000 } }),
    ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 20 } }),
    ev("message_stop", { type: "message_stop" }),
  ];
  const res = await post(gw, c.key, "/v1/messages", { model: "grok-4", max_tokens: 100, stream: true, messages: [{ role: "user", content: "hi" }] }, { "anthropic-version": "2023-06-01" });
  await res.text();
  const row = (await waitRow(gw, res.headers.get("x-request-id")!)) as (Row & { upstream_cost_micros: number | null }) | null;
  // No final cost: list prices, and the operator's cost unknown rather than the partial 1 micro.
  expect({ cost: row!.cost_micros, upstream: row!.upstream_cost_micros }).toEqual({ cost: 100 * 3 + 20 * 15, upstream: null });
});
