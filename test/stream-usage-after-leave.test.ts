/**
 * A client that leaves a stream once its answer is whole (chat: the finish_reason chunk;
 * Responses: the last output item done; Messages: the stop reason) still pays what the upstream
 * bills: the usage that follows the answer (hidden reasoning, server-side tool calls) is read
 * for a few seconds more, nothing forwarded, and charged instead of an estimate. Leaving early on
 * purpose is no discount. The read is bounded (the stream's idle timeout, shutdown), more output
 * ends it at once, and the hold and the request's place in flight are given back once whatever
 * ends it. Official SDKs as the clients, leaving by breaking out of their streams.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { ev, gatewayOn, scriptedUpstream, waitRow, type Scripted } from "./support/scripted-upstream";
import type { Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
let up: Scripted;
let gw: Gateway;
beforeAll(async () => {
  up = scriptedUpstream();
  // A short idle timeout bounds the read after the client left (the read's bound is the smaller of 5 s and it).
  gw = await gatewayOn(up, "xai", { timeouts: { stream_gap_ms: 1_000 } });
});
afterAll(async () => {
  await gw?.stop();
  up?.stop();
});

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: "c1", object: "chat.completion.chunk", created: 1, model: "grok-4-0709",
  choices: [{ index: 0, delta, finish_reason: finish }],
});
const finishChunks = [ev(null, chunk({ role: "assistant", content: "" })), ev(null, chunk({ content: "Yes." })), ev(null, chunk({}, "stop"))];
// 20,000 prompt, 3 + 30,000 reasoning output (xAI counts reasoning apart), 10 web searches.
const USAGE = { prompt_tokens: 20_000, completion_tokens: 3, total_tokens: 50_003, completion_tokens_details: { reasoning_tokens: 30_000 }, server_side_tool_usage_details: { web_search_calls: 10 } };
// grok-4: 3 µ an input token, 15 µ an output token; web_search 5,000 µ a call.
const REAL = 20_000 * 3 + 30_003 * 15 + 10 * 5_000;

const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });

/** Nothing left behind: no hold, nothing in flight. */
async function settledClean(accountId: string): Promise<void> {
  const end = Date.now() + 3_000;
  while ((gw.runtime.deps.upstreams.traffic.inFlight > 0 || gw.runtime.deps.credits.balance(accountId).held > 0) && Date.now() < end) await Bun.sleep(10);
  expect(gw.runtime.deps.upstreams.traffic.inFlight).toBe(0);
  expect(gw.runtime.deps.credits.balance(accountId).held).toBe(0);
}

/** Reads a chat stream with the SDK until the answer's finish_reason, then leaves; the request id. */
async function chatUntilFinish(key: string): Promise<string> {
  const { data: stream, response } = await openai(key)
    .chat.completions.create({ model: "grok-4", stream: true, max_tokens: 100, messages: [{ role: "user", content: "Is it?" }]})
    .withResponse();
  for await (const c of stream) if (c.choices[0]?.finish_reason) break;
  return response.headers.get("x-request-id")!;
}

test("chat: a client that leaves after finish_reason, before the usage chunk, is charged the usage that follows", async () => {
  const c = await gw.customer(10_000_000);
  up.script = [...finishChunks, { sleep: 150 }, ev(null, { ...chunk({}), choices: [], usage: USAGE }), ev(null, "[DONE]")];
  const row = await waitRow(gw, await chatUntilFinish(c.key));
  expect({ status: row!.status, code: row!.error_code, estimated: row!.estimated, prompt: row!.prompt_tokens, completion: row!.completion_tokens }).toEqual({
    status: 499, code: "client_closed", estimated: 0, prompt: 20_000, completion: 30_003,
  });
  expect(row!.cost_micros).toBe(REAL);
  await settledClean(c.accountId);
});

test("Responses: a client that leaves after the last output item, before response.completed, is charged its usage", async () => {
  const c = await gw.customer(10_000_000);
  const resp = (status: string, usage: unknown) => ({ id: "resp_1", object: "response", created_at: 1, status, model: "grok-4-0709", output: [], usage });
  const usage = { input_tokens: 20_000, output_tokens: 3, total_tokens: 50_003, output_tokens_details: { reasoning_tokens: 30_000 }, input_tokens_details: { cached_tokens: 0 } };
  const item = { id: "msg_1", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Yes.", annotations: [] }] };
  up.script = [
    ev("response.created", { type: "response.created", sequence_number: 0, response: resp("in_progress", null) }),
    ev("response.output_item.added", { type: "response.output_item.added", sequence_number: 1, output_index: 0, item: { ...item, status: "in_progress", content: [] } }),
    ev("response.output_text.delta", { type: "response.output_text.delta", sequence_number: 2, item_id: "msg_1", output_index: 0, content_index: 0, delta: "Yes." }),
    ev("response.output_item.done", { type: "response.output_item.done", sequence_number: 3, output_index: 0, item }),
    { sleep: 150 },
    ev("response.completed", { type: "response.completed", sequence_number: 4, response: { ...resp("completed", usage), output: [item] } }),
  ];
  const { data: stream, response } = await openai(c.key).responses.create({ model: "grok-4", stream: true, max_output_tokens: 100, input: "Is it?" }).withResponse();
  for await (const e of stream) if (e.type === "response.output_item.done") break;
  const row = await waitRow(gw, response.headers.get("x-request-id")!);
  expect({ status: row!.status, estimated: row!.estimated, prompt: row!.prompt_tokens, completion: row!.completion_tokens, cost: row!.cost_micros }).toEqual({
    status: 499, estimated: 0, prompt: 20_000, completion: 30_003, cost: 20_000 * 3 + 30_003 * 15,
  });
  await settledClean(c.accountId);
});

test("Messages: a client that leaves at the stop reason is charged message_delta's usage, read to message_stop", async () => {
  const c = await gw.customer(10_000_000);
  up.script = [
    ev("message_start", { type: "message_start", message: { id: "msg_1", type: "message", role: "assistant", model: "grok-4-0709", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 2_000, output_tokens: 1 } } }),
    ev("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
    ev("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Yes." } }),
    ev("content_block_stop", { type: "content_block_stop", index: 0 }),
    ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 3_000 } }),
    { sleep: 150 },
    ev("message_stop", { type: "message_stop" }),
  ];
  const client = new Anthropic({ apiKey: c.key, baseURL: gw.url, maxRetries: 0 });
  const { data: stream, response } = await client.messages.create({ model: "grok-4", max_tokens: 100, stream: true, messages: [{ role: "user", content: "Is it?" }] }).withResponse();
  for await (const e of stream) if (e.type === "message_delta") break;
  const row = await waitRow(gw, response.headers.get("x-request-id")!);
  expect({ status: row!.status, estimated: row!.estimated, prompt: row!.prompt_tokens, completion: row!.completion_tokens }).toEqual({ status: 499, estimated: 0, prompt: 2_000, completion: 3_000 });
  await settledClean(c.accountId);
});

test("a usage that does not come within the stream's idle timeout: the estimate, and nothing held or in flight after", async () => {
  const c = await gw.customer(10_000_000);
  up.script = [...finishChunks, { sleep: 8_000 }, ev(null, { ...chunk({}), choices: [], usage: USAGE }), ev(null, "[DONE]")];
  const t0 = performance.now();
  const id = await chatUntilFinish(c.key);
  const row = await waitRow(gw, id, 4_000);
  // Bounded by the 1 s idle timeout, not by the upstream's 8 s.
  expect(performance.now() - t0).toBeLessThan(3_000);
  expect({ status: row!.status, code: row!.error_code, estimated: row!.estimated, completion: row!.completion_tokens }).toEqual({ status: 499, code: "client_closed", estimated: 1, completion: 1 });
  await settledClean(c.accountId);
});

test("an answer that goes on after all (another output item) is cut at once, as a client leaving mid-answer", async () => {
  const c = await gw.customer(10_000_000);
  const item = (id: string, status: string) => ({ id, type: "message", role: "assistant", status, content: [] });
  up.script = [
    ev("response.created", { type: "response.created", sequence_number: 0, response: { id: "resp_2", object: "response", status: "in_progress", output: [], usage: null } }),
    ev("response.output_item.added", { type: "response.output_item.added", sequence_number: 1, output_index: 0, item: item("rs_1", "in_progress") }),
    ev("response.output_item.done", { type: "response.output_item.done", sequence_number: 2, output_index: 0, item: item("rs_1", "completed") }),
    { sleep: 100 },
    ev("response.output_item.added", { type: "response.output_item.added", sequence_number: 3, output_index: 1, item: item("msg_2", "in_progress") }),
    { sleep: 4_000 },
    ev("response.completed", { type: "response.completed", sequence_number: 4, response: { id: "resp_2", object: "response", status: "completed", output: [], usage: { input_tokens: 5, output_tokens: 5 } } }),
  ];
  const t0 = performance.now();
  const { data: stream, response } = await openai(c.key).responses.create({ model: "grok-4", stream: true, max_output_tokens: 100, input: "Is it?" }).withResponse();
  for await (const e of stream) if (e.type === "response.output_item.done") break;
  const row = await waitRow(gw, response.headers.get("x-request-id")!);
  expect(performance.now() - t0).toBeLessThan(900);
  expect({ status: row!.status, estimated: row!.estimated }).toEqual({ status: 499, estimated: 1 });
  await settledClean(c.accountId);
});

test("shutdown does not wait for a gone client's usage: it ends the read at its grace, charged the estimate", async () => {
  const up2 = scriptedUpstream();
  const gw2 = await gatewayOn(up2, "xai");
  try {
    const c = await gw2.customer(10_000_000);
    up2.script = [...finishChunks, { sleep: 8_000 }, ev(null, { ...chunk({}), choices: [], usage: USAGE }), ev(null, "[DONE]")];
    const { data: stream, response } = await new OpenAI({ apiKey: c.key, baseURL: `${gw2.url}/v1`, maxRetries: 0 })
      .chat.completions.create({ model: "grok-4", stream: true, max_tokens: 100, messages: [{ role: "user", content: "Is it?" }] })
      .withResponse();
    for await (const ch of stream) if (ch.choices[0]?.finish_reason) break;
    await Bun.sleep(50);
    // The gateway's own drain at a stop (SIGTERM), with a 200 ms grace.
    const traffic = gw2.runtime.deps.upstreams.traffic;
    expect(traffic.inFlight).toBe(1);
    const t0 = performance.now();
    const drained = await traffic.drain(200);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(drained).toEqual({ finished: true, terminated: 1 });
    const row = await waitRow(gw2, response.headers.get("x-request-id")!);
    expect({ status: row!.status, code: row!.error_code, estimated: row!.estimated }).toEqual({ status: 499, code: "client_closed", estimated: 1 });
    expect(gw2.runtime.deps.credits.balance(c.accountId).held).toBe(0);
  } finally {
    await gw2.stop();
    up2.stop();
  }
});
