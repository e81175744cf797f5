/**
 * Server-side tool calls an answer shows run are paid when its usage does not count them: a whole
 * answer without usage is charged its estimate plus the calls (Responses' call items, Messages'
 * server tool calls whose result came; an error result is no billed call), and a Messages usage
 * without tool counters (no server_tool_use) is charged the calls its blocks show, whole or
 * streamed. A usage that counts them is charged them once.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { ev, scriptedGateway, post, searchItem, waitRow, WEB_SEARCH } from "./support/scripted-upstream";

setDefaultTimeout(30_000);
const s = scriptedGateway("openai");

const search = searchItem;
const message = { id: "msg_1", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "According to the results.", annotations: [] }] };
const anthropic = (key: string) => ({ "x-api-key": key, "anthropic-version": "2023-06-01" });
const messagesBody = { model: "grok-4", max_tokens: 100, messages: [{ role: "user", content: "search" }], tools: [{ type: "web_search_20250305", name: "web_search" }] };
/** Two server web searches that ran and one whose result is an error, then the text. */
const blocks = [
  { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: { query: "q" } },
  { type: "web_search_tool_result", tool_use_id: "srvtoolu_1", content: [] },
  { type: "server_tool_use", id: "srvtoolu_2", name: "web_search", input: { query: "q" } },
  { type: "web_search_tool_result", tool_use_id: "srvtoolu_2", content: [] },
  { type: "server_tool_use", id: "srvtoolu_3", name: "web_search", input: { query: "q" } },
  { type: "web_search_tool_result", tool_use_id: "srvtoolu_3", content: { type: "web_search_tool_result_error", error_code: "unavailable" } },
  { type: "text", text: "According to the results." },
];
const whole = (m: Record<string, unknown>) => JSON.stringify({ id: "msg_w", type: "message", role: "assistant", model: "grok-4-0709", stop_reason: "end_turn", content: blocks, ...m });

async function rowOf(res: Response) {
  expect(res.status).toBe(200);
  await res.text();
  return (await waitRow(s.gw, res.headers.get("x-request-id")!))!;
}

test("Responses: a whole answer without usage pays the 3 web searches its items show, with its estimate", async () => {
  const c = await s.gw.customer(10_000_000);
  s.up.script = [JSON.stringify({ id: "resp_w", object: "response", status: "completed", model: "grok-4-0709", store: false, output: [0, 1, 2].map(search).concat(message as never) })];
  const row = await rowOf(await post(s.gw, c.key, "/v1/responses", { model: "grok-4", input: "search the web", tools: [{ type: "web_search" }], max_output_tokens: 100 }));
  expect(row.estimated).toBe(1);
  expect(row.cost_micros).toBeGreaterThanOrEqual(3 * WEB_SEARCH);
  expect(row.cost_micros).toBeLessThan(4 * WEB_SEARCH);
});

test("Messages: a whole answer without usage pays the 2 searches that ran, not the failed one", async () => {
  const c = await s.gw.customer(10_000_000);
  s.up.script = [whole({})];
  const row = await rowOf(await post(s.gw, c.key, "/v1/messages", messagesBody, anthropic(c.key)));
  expect(row.estimated).toBe(1);
  expect(row.cost_micros).toBeGreaterThanOrEqual(2 * WEB_SEARCH);
  expect(row.cost_micros).toBeLessThan(3 * WEB_SEARCH);
});

test("Messages: a usage without server_tool_use is charged the searches the blocks show; one with it, once", async () => {
  const c = await s.gw.customer(10_000_000);
  s.up.script = [whole({ usage: { input_tokens: 10, output_tokens: 10 } })];
  const bare = await rowOf(await post(s.gw, c.key, "/v1/messages", messagesBody, anthropic(c.key)));
  expect({ estimated: bare.estimated, cost: bare.cost_micros }).toEqual({ estimated: 0, cost: 10 * 3 + 10 * 15 + 2 * WEB_SEARCH });
  s.up.script = [whole({ usage: { input_tokens: 10, output_tokens: 10, server_tool_use: { web_search_requests: 2 } } })];
  const counted = await rowOf(await post(s.gw, c.key, "/v1/messages", messagesBody, anthropic(c.key)));
  expect(counted.cost_micros).toBe(10 * 3 + 10 * 15 + 2 * WEB_SEARCH);
});

test("Messages stream: a usage without server_tool_use is charged the searches that ran", async () => {
  const c = await s.gw.customer(10_000_000);
  const start = ev("message_start", { type: "message_start", message: { id: "msg_s", type: "message", role: "assistant", model: "grok-4-0709", content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } } });
  const events = blocks.flatMap((b, i) => [ev("content_block_start", { type: "content_block_start", index: i, content_block: b }), ev("content_block_stop", { type: "content_block_stop", index: i })]);
  const delta = ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 10 } });
  s.up.script = [start, ...events, delta, ev("message_stop", { type: "message_stop" })];
  const row = await rowOf(await post(s.gw, c.key, "/v1/messages", { ...messagesBody, stream: true }, anthropic(c.key)));
  expect({ estimated: row.estimated, cost: row.cost_micros }).toEqual({ estimated: 0, cost: 10 * 3 + 10 * 15 + 2 * WEB_SEARCH });
});
