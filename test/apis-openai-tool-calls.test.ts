/**
 * OpenAI's Responses API reports its server-side tool calls as output items (web_search_call,
 * file_search_call, code_interpreter_call, image_generation_call, mcp_call), not as usage
 * counters: behind an OpenAI-kind provider each such item is charged as one call of the tool as
 * the catalogue prices it, whole answers and streams alike (the done events and the final
 * output naming the same call once). Failed calls and the client's own function calls are
 * free; an upstream that counts its calls in the usage (xAI) is charged its counters, not twice.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { ev, gatewayOn, scriptedUpstream, waitRow, type Scripted } from "./support/scripted-upstream";
import type { Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
let up: Scripted;
let gw: Gateway;
beforeAll(async () => {
  up = scriptedUpstream();
  gw = await gatewayOn(up, "openai", { searchable_collections: ["vs_1"] });
});
afterAll(async () => {
  await gw?.stop();
  up?.stop();
});

// grok-4: 3 µ/input token, 15 µ/output; per call: web search 5,000 µ, file (collections) search
// 2,500, code execution 5,000, image generation 20,000 (xAI's list prices per 1,000 calls).
const TOKENS = 100 * 3 + 10 * 15;
const usage = (extra: Record<string, unknown> = {}) => ({ input_tokens: 100, input_tokens_details: { cached_tokens: 0 }, output_tokens: 10, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 110, ...extra });
const searches = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `ws_${i}`, type: "web_search_call", status: "completed", action: { type: "search", query: "q" } }));
const message = { id: "msg_1", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Found it.", annotations: [] }] };
const response = (output: unknown[], u: Record<string, unknown>) => ({ id: "resp_1", object: "response", status: "completed", model: "grok-4-0709", store: false, output, usage: u });

const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
const TOOLS = [{ type: "web_search" }, { type: "file_search", vector_store_ids: ["vs_1"] }, { type: "code_interpreter", container: { type: "auto" } }, { type: "image_generation" }];

test("a whole answer's tool-call items are charged per call at the catalogue's prices", async () => {
  const c = await gw.customer(10_000_000);
  const output = [
    ...searches(5),
    { id: "fs_1", type: "file_search_call", status: "completed", queries: ["q"], results: null },
    { id: "ci_1", type: "code_interpreter_call", status: "completed", code: "1+1", container_id: "cntr_1", outputs: null },
    { id: "ig_1", type: "image_generation_call", status: "completed", result: "aGk=" },
    // Neither is billed: a failed search, and a function call (the client's own tool).
    { id: "ws_failed", type: "web_search_call", status: "failed", action: { type: "search", query: "q" } },
    { id: "fc_1", type: "function_call", call_id: "call_1", name: "f", arguments: "{}", status: "completed" },
    message,
  ];
  up.script = [JSON.stringify(response(output, usage()))];
  const { data, response: res } = await openai(c.key).responses.create({ model: "grok-4", input: "search the web", tools: TOOLS, max_output_tokens: 100 } as never).withResponse();
  expect((data as { output_text: string }).output_text).toBe("Found it.");
  const row = await waitRow(gw, res.headers.get("x-request-id")!);
  expect(row!.cost_micros).toBe(TOKENS + 5 * 5_000 + 2_500 + 5_000 + 20_000);
});

test("a stream's calls are counted once, from the done events and the final output alike", async () => {
  const c = await gw.customer(10_000_000);
  const calls = searches(3);
  const done = calls.map((item, i) => ev("response.output_item.done", { type: "response.output_item.done", output_index: i, item, sequence_number: i + 1 }));
  const created = ev("response.created", { type: "response.created", response: { ...response([], usage()), status: "in_progress", usage: null }, sequence_number: 0 });
  const completed = (output: unknown[]) => ev("response.completed", { type: "response.completed", response: response(output, usage()), sequence_number: 9 });
  // The final output lists the same calls (and one more, only there); then without any output at all.
  for (const [final, calls] of [[[...searches(4), message], 4], [undefined, 3]] as const) {
    up.script = [created, ...done, final ? completed([...final]) : ev("response.completed", { type: "response.completed", response: { ...response([], usage()), output: undefined }, sequence_number: 9 })];
    const { data: stream, response: res } = await openai(c.key).responses.create({ model: "grok-4", input: "search", tools: [{ type: "web_search" }], stream: true } as never).withResponse();
    const types: string[] = [];
    for await (const e of stream as unknown as AsyncIterable<{ type: string }>) types.push(e.type);
    expect(types.at(-1)).toBe("response.completed");
    const row = await waitRow(gw, res.headers.get("x-request-id")!);
    expect(row!.cost_micros).toBe(TOKENS + calls * 5_000);
  }
});

test("usage that counts its tool calls (xAI) is charged its counters, not the items again", async () => {
  const c = await gw.customer(10_000_000);
  const counted = usage({ num_server_side_tools_used: 2, server_side_tool_usage_details: { web_search_calls: 2, x_search_calls: 0 } });
  up.script = [JSON.stringify(response([...searches(2), message], counted))];
  const { response: res } = await openai(c.key).responses.create({ model: "grok-4", input: "search", tools: [{ type: "web_search" }] } as never).withResponse();
  expect((await waitRow(gw, res.headers.get("x-request-id")!))!.cost_micros).toBe(TOKENS + 2 * 5_000);
});
