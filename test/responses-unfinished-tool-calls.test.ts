/**
 * A server-side call the upstream never finished is no successful call, and upstreams bill only
 * successful ones: a Responses call item counts once its status is "completed", or when it has no
 * status (xAI may leave it out, and an mcp_call may have none) and names no error. A call still
 * in_progress or searching when the response failed, or one incomplete, interpreting or naming an
 * error, is charged nothing: not in a stream's estimate, not in a whole answer's (no usage), and
 * not next to a usage without tool counters (an upstream's own counters, xAI's, still decide).
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
  // grok-4 as the shared catalogue has it, with MCP calls priced (free by default) to see them charged.
  gw = await gatewayOn(up, "openai", {
    models: [{ id: "grok-4", provider: "fake", upstream_model: "grok-4-0709", input_price: 3, cached_input_price: 0.75, output_price: 15, max_output_tokens: 1000, tool_prices: { mcp: 5 } }],
  });
});
afterAll(async () => {
  await gw?.stop();
  up?.stop();
});

// Per call: web search 5,000 µ, code execution 5,000, MCP 5,000 (priced above); tokens 3 µ in, 15 µ out.
const CALL = 5_000;
const TOKENS = 100 * 3 + 10 * 15;
const pending = { id: "ws_1", type: "web_search_call", status: "in_progress", action: { type: "search", query: "q" } };
const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });

test("stream: response.failed while its only web search is still in_progress charges no search", async () => {
  const c = await gw.customer(10_000_000);
  up.script = [
    ev("response.created", { type: "response.created", sequence_number: 0, response: { id: "resp_f", object: "response", status: "in_progress", model: "grok-4-0709", store: false, output: [], usage: null } }),
    ev("response.output_item.added", { type: "response.output_item.added", output_index: 0, item: pending, sequence_number: 1 }),
    ev("response.failed", { type: "response.failed", sequence_number: 2, response: { id: "resp_f", object: "response", status: "failed", model: "grok-4-0709", store: false, error: { code: "server_error", message: "boom" }, output: [pending], usage: null } }),
  ];
  const stream = await openai(c.key).responses.create({ model: "grok-4", input: "search the web", tools: [{ type: "web_search" }], stream: true, max_output_tokens: 100 }).withResponse();
  const failed: string[] = [];
  for await (const e of stream.data) if (e.type === "response.failed") failed.push(e.response.status ?? "");
  const row = await waitRow(gw, stream.response.headers.get("x-request-id")!);
  // The client read the failure; nothing delivered and no call done: nothing charged.
  expect({ failed, cost: row!.cost_micros }).toEqual({ failed: ["failed"], cost: 0 });
});

test("whole: a failed response whose web search is still 'searching' (no usage) charges no search", async () => {
  const c = await gw.customer(10_000_000);
  up.script = [JSON.stringify({ id: "resp_w", object: "response", status: "failed", error: { code: "server_error", message: "boom" }, model: "grok-4-0709", store: false, output: [{ ...pending, status: "searching" }] })];
  const res = await fetch(`${gw.url}/v1/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "grok-4", input: "search the web", tools: [{ type: "web_search" }], max_output_tokens: 100 }),
  });
  await res.text();
  const row = await waitRow(gw, res.headers.get("x-request-id")!);
  // The prompt's estimate alone: the upstream read it, but ran no search to the end.
  expect(row!.estimated).toBe(1);
  expect(row!.cost_micros).toBeGreaterThan(0);
  expect(row!.cost_micros).toBeLessThan(CALL);
});

test("with usage: completed and status-less calls are charged, unfinished or erred ones are not", async () => {
  const c = await gw.customer(10_000_000);
  const q = { type: "search", query: "q" };
  const output = [
    // Charged: completed, and no status at all (xAI's items, an mcp_call without one).
    { id: "ws_done", type: "web_search_call", status: "completed", action: q },
    { id: "ws_bare", type: "web_search_call", action: q },
    { id: "mcp_ok", type: "mcp_call", server_label: "s", name: "f", arguments: "{}", output: "ok", error: null },
    // Not charged: never finished, or failed by what they say.
    { id: "ws_cut", type: "web_search_call", status: "incomplete", action: q },
    { id: "ci_run", type: "code_interpreter_call", status: "interpreting", code: "1+1", container_id: "cntr_1", outputs: null },
    { id: "mcp_err", type: "mcp_call", server_label: "s", name: "f", arguments: "{}", output: null, error: "tool failed" },
    { id: "msg_1", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Found it.", annotations: [] }] },
  ];
  const usage = { input_tokens: 100, input_tokens_details: { cached_tokens: 0 }, output_tokens: 10, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 110 };
  up.script = [JSON.stringify({ id: "resp_u", object: "response", status: "completed", model: "grok-4-0709", store: false, output, usage })];
  const tools = [{ type: "web_search" }, { type: "code_interpreter", container: { type: "auto" } }, { type: "mcp", server_label: "s", server_url: "https://mcp.example.com", require_approval: "never" }];
  const { data, response } = await openai(c.key).responses.create({ model: "grok-4", input: "search the web", tools, max_output_tokens: 100 } as never).withResponse();
  expect((data as { output_text: string }).output_text).toBe("Found it.");
  const row = await waitRow(gw, response.headers.get("x-request-id")!);
  expect(row!.cost_micros).toBe(TOKENS + 3 * CALL);
});
