/**
 * A whole answer without usage is charged its prompt's estimate plus an estimate of all the model
 * wrote, whatever kind of output it was, as its stream would be (test/stream-cut-uncounted-deltas):
 * Responses' custom tool calls, MCP calls, code interpreter code and shell commands, chat reasoning
 * in `message.reasoning` and custom tool calls, Messages' server and MCP tool uses and a
 * compaction's summary each cost what as much text costs. Left out, such output was free.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { scriptedGateway, post, waitRow } from "./support/scripted-upstream";

setDefaultTimeout(30_000);
const s = scriptedGateway("openai");

const NAME = "run";
/** 3,600 characters: 900 tokens of output, 13,500 micros at 15 micros a token. */
const BODY = "let x = 42; ".repeat(300);
const OUTPUT = 900 * 15;
/** A code interpreter call that ran is a server-side call, charged on top of its code (its list price, micros). */
const CODE_RUN = 5_000;

/** The cost of an answer without usage, and that it was charged as an estimate. */
async function costOf(key: string, path: string, body: unknown, answer: unknown, headers: Record<string, string> = {}): Promise<number> {
  s.up.script = [JSON.stringify(answer)];
  const res = await post(s.gw, key, path, body, headers);
  expect(res.status).toBe(200);
  await res.text();
  const row = (await waitRow(s.gw, res.headers.get("x-request-id")!))!;
  expect(row.estimated).toBe(1);
  return row.cost_micros;
}

test("Responses: custom tool input, MCP arguments, code and shell commands are charged like output text", async () => {
  const c = await s.gw.customer(10_000_000);
  const body = { model: "grok-4", input: "write it", max_output_tokens: 2000 };
  const answer = (item: Record<string, unknown>) => ({ id: "resp_w", object: "response", status: "completed", model: "grok-4-0709", store: false, output: [{ id: "it_1", status: "completed", ...item }] });
  const text = await costOf(c.key, "/v1/responses", body, answer({ type: "message", role: "assistant", content: [{ type: "output_text", text: NAME + BODY, annotations: [] }] }));
  const items = {
    custom_tool_call: { call_id: "c1", name: NAME, input: BODY },
    mcp_call: { server_label: "s", name: NAME, arguments: BODY, output: "what the MCP server answered is not the model's" },
    code_interpreter_call: { container_id: "cntr_1", code: NAME + BODY, outputs: [{ type: "logs", logs: "nor are the code's logs" }] },
    shell_call: { call_id: "c2", action: { commands: [NAME, BODY] } },
  };
  const costs: Record<string, number> = {};
  for (const [type, fields] of Object.entries(items)) costs[type] = await costOf(c.key, "/v1/responses", body, answer({ type, ...fields }));
  expect(text).toBeGreaterThanOrEqual(OUTPUT);
  expect(costs).toEqual({ custom_tool_call: text, mcp_call: text, code_interpreter_call: text + CODE_RUN, shell_call: text });
});

test("chat: reasoning in message.reasoning and a custom tool's input are charged like reasoning_content and function arguments", async () => {
  const c = await s.gw.customer(10_000_000);
  const body = { model: "grok-4", messages: [{ role: "user", content: "think" }], max_tokens: 2000 };
  const answer = (message: Record<string, unknown>) => ({ id: "c1", object: "chat.completion", created: 1, model: "grok-4-0709", choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: null, ...message } }] });
  const viaReasoningContent = await costOf(c.key, "/v1/chat/completions", body, answer({ reasoning_content: NAME + BODY }));
  const viaReasoning = await costOf(c.key, "/v1/chat/completions", body, answer({ reasoning: NAME + BODY }));
  const viaBoth = await costOf(c.key, "/v1/chat/completions", body, answer({ reasoning: NAME + BODY, reasoning_content: NAME + BODY }));
  const call = (kind: "function" | "custom") => ({ id: "call_1", type: kind, [kind]: { name: NAME, [kind === "function" ? "arguments" : "input"]: BODY } });
  const viaFunction = await costOf(c.key, "/v1/chat/completions", body, answer({ tool_calls: [call("function")] }));
  const viaCustom = await costOf(c.key, "/v1/chat/completions", body, answer({ tool_calls: [call("custom")] }));
  expect(viaReasoningContent).toBeGreaterThanOrEqual(OUTPUT);
  expect({ viaReasoning, viaBoth, viaFunction, viaCustom }).toEqual({ viaReasoning: viaReasoningContent, viaBoth: viaReasoningContent, viaFunction: viaReasoningContent, viaCustom: viaReasoningContent });
});

test("Messages: server and MCP tool uses are charged like a tool_use, a compaction's summary like text", async () => {
  const c = await s.gw.customer(10_000_000);
  const headers = { "x-api-key": c.key, "anthropic-version": "2023-06-01" };
  const body = { model: "grok-4", max_tokens: 2000, messages: [{ role: "user", content: "search" }] };
  const answer = (block: Record<string, unknown>) => ({ id: "msg_w", type: "message", role: "assistant", model: "grok-4-0709", stop_reason: "end_turn", content: [block] });
  const cost = (block: Record<string, unknown>) => costOf(c.key, "/v1/messages", body, answer(block), headers);
  const use = { id: "toolu_1", name: NAME, input: { code: BODY } };
  const toolUse = await cost({ type: "tool_use", ...use });
  const serverToolUse = await cost({ type: "server_tool_use", ...use });
  const mcpToolUse = await cost({ type: "mcp_tool_use", server_name: "s", ...use });
  const text = await cost({ type: "text", text: NAME + BODY });
  const compaction = await cost({ type: "compaction", content: NAME + BODY, encrypted_content: null });
  expect(toolUse).toBeGreaterThanOrEqual(OUTPUT);
  expect({ serverToolUse, mcpToolUse, compaction }).toEqual({ serverToolUse: toolUse, mcpToolUse: toolUse, compaction: text });
});
