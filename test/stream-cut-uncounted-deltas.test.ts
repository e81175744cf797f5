/**
 * A stream that ends without its usage (the upstream breaks off, or the client leaves mid-answer)
 * pays the prompt and the output it delivered, whatever kind of output it was: Responses' custom
 * tool input, MCP call arguments, code interpreter code and shell commands, a chat stream's
 * reasoning in `delta.reasoning` (OpenRouter, vLLM, Groq, Ollama) and a chat custom tool's input
 * (`tool_calls[].custom.input`), and a Messages compaction's summary (`compaction_delta`), each
 * cost what as much output text costs. Uncounted, such output went out free (the hold released:
 * nothing "delivered").
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { ev, scriptedGateway, post, waitRow } from "./support/scripted-upstream";

setDefaultTimeout(30_000);
const s = scriptedGateway("openai");

const DELTAS = 500;
const CHUNK = "let x = 42; "; // 12 characters: one token a delta
/** 500 tokens of output at 15 micros. */
const OUTPUT = DELTAS * 15;
const created = ev("response.created", { type: "response.created", sequence_number: 0, response: { id: "resp_cut", object: "response", status: "in_progress", model: "grok-4-0709", store: false, output: [], usage: null } });

/** An item of `itemType` begun, then 500 deltas of `deltaType`, then the upstream breaks off (no response.completed). */
function responsesStream(itemType: string, deltaType: string) {
  const added = ev("response.output_item.added", { type: "response.output_item.added", output_index: 0, item: { id: "it_1", type: itemType, status: "in_progress" }, sequence_number: 1 });
  const deltas = Array.from({ length: DELTAS }, (_, i) => ev(deltaType, { type: deltaType, item_id: "it_1", output_index: 0, content_index: 0, command_index: 0, delta: CHUNK, sequence_number: i + 2 }));
  return [created, added, ...deltas];
}

async function costOf(key: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  const res = await post(s.gw, key, path, body, headers);
  await res.text();
  const row = await waitRow(s.gw, res.headers.get("x-request-id")!);
  return row!.cost_micros;
}

const chunk = (delta: Record<string, unknown>) => ev(null, { id: "c1", object: "chat.completion.chunk", created: 1, model: "grok-4-0709", choices: [{ index: 0, delta, finish_reason: null }] });
const chatBody = { model: "grok-4", messages: [{ role: "user", content: "think" }], stream: true, max_tokens: 1000 };

test("Responses: output delivered as custom tool input, MCP arguments, code or shell commands is charged like output text", async () => {
  const c = await s.gw.customer(10_000_000);
  const body = { model: "grok-4", input: "write it", stream: true, max_output_tokens: 1000 };
  s.up.script = responsesStream("message", "response.output_text.delta");
  const text = await costOf(c.key, "/v1/responses", body);
  const costs: Record<string, number> = {};
  for (const [item, delta] of [
    ["custom_tool_call", "response.custom_tool_call_input.delta"],
    ["mcp_call", "response.mcp_call_arguments.delta"],
    ["code_interpreter_call", "response.code_interpreter_call_code.delta"],
    ["shell_call", "response.shell_call_command.delta"],
  ] as const) {
    s.up.script = responsesStream(item, delta);
    costs[delta] = await costOf(c.key, "/v1/responses", body);
  }
  expect(text).toBeGreaterThanOrEqual(OUTPUT);
  expect(costs).toEqual({
    "response.custom_tool_call_input.delta": text,
    "response.mcp_call_arguments.delta": text,
    "response.code_interpreter_call_code.delta": text,
    "response.shell_call_command.delta": text,
  });
});

test("chat: reasoning delivered as delta.reasoning is charged like delta.reasoning_content, and once when both carry it", async () => {
  const c = await s.gw.customer(10_000_000);
  const script = (delta: Record<string, unknown>) => [chunk({ role: "assistant", content: "" }), ...Array.from({ length: DELTAS }, () => chunk(delta))];
  s.up.script = script({ reasoning_content: CHUNK });
  const viaReasoningContent = await costOf(c.key, "/v1/chat/completions", chatBody);
  s.up.script = script({ reasoning: CHUNK });
  const viaReasoning = await costOf(c.key, "/v1/chat/completions", chatBody);
  // An upstream renaming the field may send the same text under both names: it was delivered once.
  s.up.script = script({ reasoning: CHUNK, reasoning_content: CHUNK });
  const viaBoth = await costOf(c.key, "/v1/chat/completions", chatBody);
  // One that keeps an empty reasoning_content beside the text in reasoning delivered that text.
  s.up.script = script({ reasoning: CHUNK, reasoning_content: "" });
  const viaEmptyContent = await costOf(c.key, "/v1/chat/completions", chatBody);
  expect(viaReasoningContent).toBeGreaterThanOrEqual(OUTPUT);
  expect({ viaReasoning, viaBoth, viaEmptyContent }).toEqual({ viaReasoning: viaReasoningContent, viaBoth: viaReasoningContent, viaEmptyContent: viaReasoningContent });
});

test("chat: a custom tool's input (tool_calls[].custom.input) is charged like a function's arguments", async () => {
  const c = await s.gw.customer(10_000_000);
  const call = (kind: "function" | "custom") =>
    kind === "function" ? { index: 0, type: "function", function: { arguments: CHUNK } } : { index: 0, type: "custom", custom: { input: CHUNK } };
  const script = (kind: "function" | "custom") => [chunk({ role: "assistant", content: null }), ...Array.from({ length: DELTAS }, () => chunk({ tool_calls: [call(kind)] }))];
  const body = { ...chatBody, messages: [{ role: "user", content: "write" }] };
  s.up.script = script("function");
  const viaFunction = await costOf(c.key, "/v1/chat/completions", body);
  s.up.script = script("custom");
  const viaCustom = await costOf(c.key, "/v1/chat/completions", body);
  expect(viaFunction).toBeGreaterThanOrEqual(OUTPUT);
  expect(viaCustom).toBe(viaFunction);
});

test("Messages: a compaction's summary and a server tool's input are charged like text", async () => {
  const c = await s.gw.customer(10_000_000);
  const headers = { "x-api-key": c.key, "anthropic-version": "2023-06-01" };
  const body = { model: "grok-4", max_tokens: 1000, messages: [{ role: "user", content: "go on" }], stream: true };
  const start = ev("message_start", { type: "message_start", message: { id: "msg_cut", type: "message", role: "assistant", model: "grok-4-0709", content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } } });
  /** A block begun, then 500 deltas of it, then the upstream breaks off (no message_delta, no usage). */
  const script = (block: Record<string, unknown>, delta: Record<string, unknown>) => [
    start,
    ev("content_block_start", { type: "content_block_start", index: 0, content_block: block }),
    ...Array.from({ length: DELTAS }, () => ev("content_block_delta", { type: "content_block_delta", index: 0, delta })),
  ];
  s.up.script = script({ type: "text", text: "" }, { type: "text_delta", text: CHUNK });
  const text = await costOf(c.key, "/v1/messages", body, headers);
  s.up.script = script({ type: "compaction", content: null, encrypted_content: null }, { type: "compaction_delta", content: CHUNK, encrypted_content: null });
  const compaction = await costOf(c.key, "/v1/messages", body, headers);
  s.up.script = script({ type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: {} }, { type: "input_json_delta", partial_json: CHUNK });
  const serverToolUse = await costOf(c.key, "/v1/messages", body, headers);
  expect(text).toBeGreaterThanOrEqual(OUTPUT);
  expect({ compaction, serverToolUse }).toEqual({ compaction: text, serverToolUse: text });
});
