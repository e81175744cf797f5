/**
 * A stream that ends without its usage (the upstream breaks off, or the client leaves mid-answer)
 * pays the prompt and the output it delivered, whatever kind of output it was: Responses' custom
 * tool input, MCP call arguments, code interpreter code and shell commands each cost what as
 * much output text costs. Uncounted, such output went out free (the hold released: nothing "delivered").
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { ev, onScriptedGateway, post, type Scripted, waitRow } from "./support/scripted-upstream";
import type { Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
let up: Scripted;
let gw: Gateway;
onScriptedGateway("openai", (u, g) => {
  up = u;
  gw = g;
});

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
  const res = await post(gw, key, path, body, headers);
  await res.text();
  const row = await waitRow(gw, res.headers.get("x-request-id")!);
  return row!.cost_micros;
}

test("Responses: output delivered as custom tool input, MCP arguments, code or shell commands is charged like output text", async () => {
  const c = await gw.customer(10_000_000);
  const body = { model: "grok-4", input: "write it", stream: true, max_output_tokens: 1000 };
  up.script = responsesStream("message", "response.output_text.delta");
  const text = await costOf(c.key, "/v1/responses", body);
  const costs: Record<string, number> = {};
  for (const [item, delta] of [
    ["custom_tool_call", "response.custom_tool_call_input.delta"],
    ["mcp_call", "response.mcp_call_arguments.delta"],
    ["code_interpreter_call", "response.code_interpreter_call_code.delta"],
    ["shell_call", "response.shell_call_command.delta"],
  ] as const) {
    up.script = responsesStream(item, delta);
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
