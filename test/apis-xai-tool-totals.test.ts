/**
 * xAI counts an answer's server-side tool calls in `num_server_side_tools_used`, broken down in
 * `server_side_tool_usage_details` when it gives them; answers come with the total alone too. The
 * calls the total counts beyond its details are charged all the same: named after the answer's
 * call items where there are some (Responses), else as calls of the dearest tool the request
 * enabled, as its hold counts them. Whole answers and streams, on Responses, chat and Messages.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { ev, scriptedGateway, waitRow } from "./support/scripted-upstream";

setDefaultTimeout(30_000);
const s = scriptedGateway("xai");

// grok-4: 3 µ an input token, 15 µ an output token; per call (xAI's list prices per 1,000):
// web search 5,000 µ, attachment search 10,000, image generation 20,000.
const TOKENS = 100 * 3 + 10 * 15;
const WEB = 5_000;
const ATTACHMENT = 10_000;
const IMAGE = 20_000;
const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${s.gw.url}/v1`, maxRetries: 0 });
const charged = async (res: Response) => (await waitRow(s.gw, res.headers.get("x-request-id")!))!.cost_micros;

const responsesUsage = (extra: Record<string, unknown>) => ({ input_tokens: 100, input_tokens_details: { cached_tokens: 0 }, output_tokens: 10, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 110, num_sources_used: 0, ...extra });
const searches = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `ws_${i}`, type: "web_search_call", status: "completed", action: { type: "search", query: "q" } }));
const message = { id: "msg_1", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Found it.", annotations: [] }] };
const response = (output: unknown[], usage: Record<string, unknown>) => ({ id: "resp_1", object: "response", status: "completed", model: "grok-4-0709", store: false, output, usage });
const chatUsage = (extra: Record<string, unknown>) => ({ prompt_tokens: 100, completion_tokens: 10, total_tokens: 110, ...extra });

test("Responses: the total alone, with 3 web_search_call items, charges the 3 searches", async () => {
  const c = await s.gw.customer(10_000_000);
  s.up.script = [JSON.stringify(response([...searches(3), message], responsesUsage({ num_server_side_tools_used: 3 })))];
  const { response: res } = await openai(c.key).responses.create({ model: "grok-4", input: "search", tools: [{ type: "web_search" }], max_output_tokens: 100 } as never).withResponse();
  expect(await charged(res)).toBe(TOKENS + 3 * WEB);
});

test("Responses: a total above its details is named after the items left over, the rest as the dearest tool enabled", async () => {
  const c = await s.gw.customer(10_000_000);
  // 4 calls: 1 web search named, 2 more web searches listed as items, 1 call nothing names.
  const usage = responsesUsage({ num_server_side_tools_used: 4, server_side_tool_usage_details: { web_search_calls: 1, x_search_calls: 0 } });
  s.up.script = [JSON.stringify(response([...searches(3), message], usage))];
  const tools = [{ type: "web_search" }, { type: "image_generation" }];
  const { response: res } = await openai(c.key).responses.create({ model: "grok-4", input: "search", tools, max_output_tokens: 100 } as never).withResponse();
  expect(await charged(res)).toBe(TOKENS + 3 * WEB + IMAGE);
});

test("Responses stream: the total alone in response.completed charges the searches its done events showed", async () => {
  const c = await s.gw.customer(10_000_000);
  const created = ev("response.created", { type: "response.created", response: { ...response([], {}), status: "in_progress", usage: null }, sequence_number: 0 });
  const done = searches(2).map((item, i) => ev("response.output_item.done", { type: "response.output_item.done", output_index: i, item, sequence_number: i + 1 }));
  const completed = ev("response.completed", { type: "response.completed", response: response([...searches(2), message], responsesUsage({ num_server_side_tools_used: 2 })), sequence_number: 9 });
  s.up.script = [created, ...done, completed];
  const { data: stream, response: res } = await openai(c.key).responses.create({ model: "grok-4", input: "search", tools: [{ type: "web_search" }], stream: true } as never).withResponse();
  for await (const _ of stream as unknown as AsyncIterable<unknown>);
  expect(await charged(res)).toBe(TOKENS + 2 * WEB);
});

test("chat: the total alone charges its calls as the dearest tool the request enabled", async () => {
  const c = await s.gw.customer(10_000_000);
  const answer = { id: "c1", object: "chat.completion", created: 1, model: "grok-4-0709", choices: [{ index: 0, message: { role: "assistant", content: "Found it." }, finish_reason: "stop" }], usage: chatUsage({ num_server_side_tools_used: 2 }) };
  s.up.script = [JSON.stringify(answer)];
  const tools = [{ type: "web_search" }, { type: "attachment_search" }];
  const { response: res } = await openai(c.key).chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "search" }], tools } as never).withResponse();
  expect(await charged(res)).toBe(TOKENS + 2 * ATTACHMENT);
});

test("chat stream: the total alone in the usage chunk is charged, and the cost the client sees is that charge", async () => {
  const c = await s.gw.customer(10_000_000);
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ev(null, { id: "c1", object: "chat.completion.chunk", created: 1, model: "grok-4-0709", choices: [{ index: 0, delta, finish_reason: finish }] });
  const usage = ev(null, { id: "c1", object: "chat.completion.chunk", created: 1, model: "grok-4-0709", choices: [], usage: chatUsage({ num_server_side_tools_used: 3, cost_in_usd_ticks: 1 }) });
  s.up.script = [chunk({ role: "assistant", content: "Found" }, null), chunk({ content: " it." }, "stop"), usage, "data: [DONE]\n\n"];
  const { data: stream, response: res } = await openai(c.key)
    .chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "search" }], tools: [{ type: "web_search" }], stream: true, stream_options: { include_usage: true } } as never)
    .withResponse();
  let ticks: unknown;
  for await (const ch of stream as unknown as AsyncIterable<{ usage?: { cost_in_usd_ticks?: number } | null }>) if (ch.usage) ticks = ch.usage.cost_in_usd_ticks;
  const cost = await charged(res);
  expect(cost).toBe(TOKENS + 3 * WEB);
  expect(ticks).toBe(cost * 10_000);
});

test("Messages: the total alone charges its calls as the request's server tool", async () => {
  const c = await s.gw.customer(10_000_000);
  const usage = { input_tokens: 100, output_tokens: 10, num_server_side_tools_used: 2 };
  s.up.script = [JSON.stringify({ id: "msg_1", type: "message", role: "assistant", model: "grok-4-0709", content: [{ type: "text", text: "Found it." }], stop_reason: "end_turn", stop_sequence: null, usage })];
  const anthropic = new Anthropic({ apiKey: c.key, baseURL: s.gw.url, maxRetries: 0 });
  const { response: res } = await anthropic.messages
    .create({ model: "grok-4", max_tokens: 100, messages: [{ role: "user", content: "search" }], tools: [{ type: "web_search_20250305", name: "web_search" }] } as never)
    .withResponse();
  expect(await charged(res)).toBe(TOKENS + 2 * WEB);
});

test("details that name every call leave nothing over: charged once", async () => {
  const c = await s.gw.customer(10_000_000);
  const usage = responsesUsage({ num_server_side_tools_used: 2, server_side_tool_usage_details: { web_search_calls: 2 } });
  s.up.script = [JSON.stringify(response([...searches(2), message], usage))];
  const { response: res } = await openai(c.key).responses.create({ model: "grok-4", input: "search", tools: [{ type: "web_search" }, { type: "image_generation" }] } as never).withResponse();
  expect(await charged(res)).toBe(TOKENS + 2 * WEB);
});

test("unit: with no tool of the request known (a deferred result), unnamed calls are the model's dearest per-call tool", async () => {
  const { namedCalls } = await import("../src/money/pricing");
  const { DEFAULT_TOOL_PRICES } = await import("../src/config/schema");
  const u = { prompt: 1, cached: 0, completion: 1, reasoning: 0, tools: { live_search: 4 }, unnamedTools: 2 };
  // Live Search's per-source price is no call's price.
  expect(namedCalls(u, { tool_prices: { ...DEFAULT_TOOL_PRICES, live_search: 99_000_000 } }, [])).toEqual({ prompt: 1, cached: 0, completion: 1, reasoning: 0, tools: { live_search: 4, image_generation: 2 } });
  expect(namedCalls(u, { tool_prices: DEFAULT_TOOL_PRICES }, ["x_search", "live_search"]).tools).toEqual({ live_search: 4, x_search: 2 });
});
