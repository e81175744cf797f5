/**
 * Server-side tool calls a stream showed done are paid when the stream ends without its usage:
 * a client that leaves while the model writes, or an upstream that breaks off. The upstream bills
 * the calls it ran ("what the upstream has worked on is paid"), so the estimate charged then is
 * the prompt, the output delivered and those calls: Responses' call items done
 * (`response.output_item.done`), Messages' server tool calls whose result came (an error result
 * is no billed call). When the usage does come, it alone counts the calls: never twice.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { ev, scriptedGateway, post, searchItem, waitRow, WEB_SEARCH } from "./support/scripted-upstream";

setDefaultTimeout(30_000);
const s = scriptedGateway("openai");

const search = searchItem;
const created = ev("response.created", { type: "response.created", sequence_number: 0, response: { id: "resp_cut", object: "response", status: "in_progress", model: "grok-4-0709", store: false, output: [], usage: null } });
const callEvents = (n: number) =>
  Array.from({ length: n }, (_, i) => [
    ev("response.output_item.added", { type: "response.output_item.added", output_index: i, item: { ...search(i), status: "in_progress" }, sequence_number: 2 * i + 1 }),
    ev("response.output_item.done", { type: "response.output_item.done", output_index: i, item: search(i), sequence_number: 2 * i + 2 }),
  ]).flat();
const textStart = (i: number) => [
  ev("response.output_item.added", { type: "response.output_item.added", output_index: i, item: { id: "msg_1", type: "message", role: "assistant", status: "in_progress", content: [] }, sequence_number: 50 }),
  ev("response.output_text.delta", { type: "response.output_text.delta", item_id: "msg_1", output_index: i, content_index: 0, delta: "Acc", sequence_number: 51 }),
];
const responsesBody = { model: "grok-4", input: "search the web", tools: [{ type: "web_search" }], stream: true, max_output_tokens: 100 };

/** Sends `path` with `body`, reads until `until` arrived, then leaves; the request's usage row. */
async function leaveAfter(path: string, body: unknown, headers: Record<string, string>, until: string) {
  const ac = new AbortController();
  const res = await fetch(`${s.gw.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body), signal: ac.signal });
  const reader = res.body!.getReader();
  let seen = "";
  while (!seen.includes(until)) seen += new TextDecoder().decode((await reader.read()).value);
  ac.abort();
  return waitRow(s.gw, res.headers.get("x-request-id")!);
}

test("Responses: a client that leaves after 4 web searches ran (text under way) pays for the 4 searches", async () => {
  const c = await s.gw.customer(10_000_000);
  s.up.script = [created, ...callEvents(4), ...textStart(4), { sleep: 10_000 }];
  const row = await leaveAfter("/v1/responses", responsesBody, { authorization: `Bearer ${c.key}` }, "response.output_text.delta");
  expect({ status: row!.status, estimated: row!.estimated }).toEqual({ status: 499, estimated: 1 });
  expect(row!.cost_micros).toBeGreaterThanOrEqual(4 * WEB_SEARCH);
});

test("Responses: an upstream that breaks off after 3 web searches ran (before any text) has them charged", async () => {
  const c = await s.gw.customer(10_000_000);
  s.up.script = [created, ...callEvents(3)]; // the connection ends here, no response.completed
  const res = await post(s.gw, c.key, "/v1/responses", responsesBody);
  expect(await res.text()).toContain("upstream_stream_incomplete");
  const row = await waitRow(s.gw, res.headers.get("x-request-id")!);
  expect({ status: row!.status, error: row!.error_code }).toEqual({ status: 502, error: "upstream_stream_incomplete" });
  expect(row!.cost_micros).toBeGreaterThanOrEqual(3 * WEB_SEARCH);
  expect(row!.cost_micros).toBeLessThan(4 * WEB_SEARCH);
});

test("Responses: when response.completed comes with usage counting the calls, they are charged once", async () => {
  const c = await s.gw.customer(10_000_000);
  const usage = { input_tokens: 100, output_tokens: 10, total_tokens: 110, num_server_side_tools_used: 3, server_side_tool_usage_details: { web_search_calls: 3 } };
  const completed = ev("response.completed", { type: "response.completed", sequence_number: 60, response: { id: "resp_cut", object: "response", status: "completed", model: "grok-4-0709", store: false, output: [0, 1, 2].map(search), usage } });
  s.up.script = [created, ...callEvents(3), completed];
  const res = await post(s.gw, c.key, "/v1/responses", responsesBody);
  await res.text();
  const row = await waitRow(s.gw, res.headers.get("x-request-id")!);
  expect(row!.cost_micros).toBe(100 * 3 + 10 * 15 + 3 * WEB_SEARCH);
});

const messagesStart = ev("message_start", { type: "message_start", message: { id: "msg_1", type: "message", role: "assistant", model: "grok-4-0709", content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } } });
/** A server web search (block `i`) and its result (block `i + 1`), an error result when `error`. */
const searchBlocks = (i: number, error = false) => [
  ev("content_block_start", { type: "content_block_start", index: i, content_block: { type: "server_tool_use", id: `srvtoolu_${i}`, name: "web_search", input: {} } }),
  ev("content_block_delta", { type: "content_block_delta", index: i, delta: { type: "input_json_delta", partial_json: '{"query":"q"}' } }),
  ev("content_block_stop", { type: "content_block_stop", index: i }),
  ev("content_block_start", { type: "content_block_start", index: i + 1, content_block: { type: "web_search_tool_result", tool_use_id: `srvtoolu_${i}`, content: error ? { type: "web_search_tool_result_error", error_code: "unavailable" } : [] } }),
  ev("content_block_stop", { type: "content_block_stop", index: i + 1 }),
];
const messagesText = (i: number) => [
  ev("content_block_start", { type: "content_block_start", index: i, content_block: { type: "text", text: "" } }),
  ev("content_block_delta", { type: "content_block_delta", index: i, delta: { type: "text_delta", text: "Acc" } }),
];
const messagesBody = { model: "grok-4", max_tokens: 100, stream: true, messages: [{ role: "user", content: "search" }], tools: [{ type: "web_search_20250305", name: "web_search" }] };
const anthropicHeaders = (key: string) => ({ "x-api-key": key, "anthropic-version": "2023-06-01" });

test("Messages: a client that leaves after 2 server web searches ran (text under way) pays for them, not for a failed one", async () => {
  const c = await s.gw.customer(10_000_000);
  s.up.script = [messagesStart, ...searchBlocks(0), ...searchBlocks(2), ...searchBlocks(4, true), ...messagesText(6), { sleep: 10_000 }];
  const row = await leaveAfter("/v1/messages", messagesBody, anthropicHeaders(c.key), "text_delta");
  expect({ status: row!.status, estimated: row!.estimated }).toEqual({ status: 499, estimated: 1 });
  expect(row!.cost_micros).toBeGreaterThanOrEqual(2 * WEB_SEARCH);
  expect(row!.cost_micros).toBeLessThan(3 * WEB_SEARCH);
});

test("Messages: when the usage comes with server_tool_use, the searches are charged once", async () => {
  const c = await s.gw.customer(10_000_000);
  const delta = ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 10, server_tool_use: { web_search_requests: 2 } } });
  s.up.script = [messagesStart, ...searchBlocks(0), ...searchBlocks(2), ...messagesText(4), delta, ev("message_stop", { type: "message_stop" })];
  const res = await post(s.gw, c.key, "/v1/messages", messagesBody, anthropicHeaders(c.key));
  await res.text();
  const row = await waitRow(s.gw, res.headers.get("x-request-id")!);
  expect(row!.cost_micros).toBe(10 * 3 + 10 * 15 + 2 * WEB_SEARCH);
});
