/**
 * POST /messages, Anthropic's Messages API as xAI serves it: JSON or named-event SSE, Anthropic's
 * usage accounting (input_tokens excludes the cache reads and writes) and error envelope.
 */
import { clampOutput, costField, promptTokensOf, toolFields, type MockBehavior } from "./mock-behavior";
import { type MockCall, errorResponse, hex, json } from "./mock-state";
import { type ScriptEvent, type SseScript, fullText, named, sseResponse, tokenText } from "./mock-stream";

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

/** Anthropic's error envelope for a status. */
export function anthropicError(status: number, message: string) {
  const type = ERROR_TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
  return { type: "error", error: { type, message } };
}

/** The mock's failure (`status`) on /messages: `error_body`, else Anthropic's envelope. */
export const messagesError = (b: MockBehavior, status: number) => errorResponse(b, status, anthropicError(status, "mock failure"));

/** The answer: its content blocks, stop reason and usage. */
interface MessageDraft {
  id: string;
  model: string;
  text: string;
  tool?: { type: "tool_use"; id: string; name: string; input: unknown };
  stop_reason: "end_turn" | "max_tokens" | "tool_use";
  /** Input usage (message_start) and the final usage (output and cost). */
  input?: { input_tokens: number; cache_creation_input_tokens: number; cache_read_input_tokens: number };
  final?: Record<string, unknown>;
}

function draftMessage(b: MockBehavior, body: Record<string, unknown>, truncated: boolean): MessageDraft {
  const prompt = b.prompt_tokens ?? promptTokensOf(body.system ?? null, body.messages);
  const cacheRead = Math.min(b.cached_tokens ?? 0, prompt);
  const cacheCreation = Math.min(b.cache_creation_tokens ?? 0, prompt - cacheRead);
  const output = (b.completion_tokens ?? 12) + (b.reasoning_tokens ?? 0);
  const input = { input_tokens: prompt - cacheRead - cacheCreation, cache_creation_input_tokens: cacheCreation, cache_read_input_tokens: cacheRead };
  const final = { output_tokens: output, ...costField(b, { input_tokens: prompt, cached_tokens: cacheRead, output_tokens: output }, body.model), ...toolFields(b) };
  const tool = b.tool_use && !truncated ? { type: "tool_use" as const, id: `toolu_${hex()}`, name: b.tool_use.name, input: b.tool_use.input ?? {} } : undefined;
  const none = b.usage === "none";
  return {
    id: `msg_${hex()}`,
    model: String(body.model),
    text: fullText(b),
    tool,
    stop_reason: truncated ? "max_tokens" : tool ? "tool_use" : "end_turn",
    input: none ? undefined : input,
    final: none ? undefined : final,
  };
}

export function messages(call: MockCall): Response {
  const { body } = call;
  if (typeof body.max_tokens !== "number") return json(call, anthropicError(400, "max_tokens: Field required"), 400);
  const { b, truncated } = clampOutput(call.b, body.max_tokens);
  const d = draftMessage(b, body, truncated);
  const headers = { "request-id": `req_${d.id}`, "x-request-id": `upstream-${d.id}` };
  if (body.stream !== true) {
    const content = [{ type: "text", text: d.text }, ...(d.tool ? [d.tool] : [])];
    const usage = d.input && { ...d.input, ...d.final };
    return json(call, { id: d.id, type: "message", role: "assistant", model: d.model, content, stop_reason: d.stop_reason, stop_sequence: null, usage }, 200, headers);
  }
  const reply = { id: d.id, created: Math.floor(Date.now() / 1000), model: d.model, close: call.close };
  return sseResponse(b, messagesScript(b, d), reply, call.req.signal, headers);
}

const event =
  (type: string, data: Record<string, unknown> = {}): ScriptEvent =>
  () =>
    named(type, { type, ...data });

/** The tool_use block, its input in two partial_json pieces. */
function toolBlock(d: MessageDraft): ScriptEvent[] {
  if (!d.tool) return [];
  const input = JSON.stringify(d.tool.input);
  const half = Math.ceil(input.length / 2);
  const delta = (partial_json: string) => event("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json } });
  return [
    event("content_block_start", { index: 1, content_block: { ...d.tool, input: {} } }),
    delta(input.slice(0, half)),
    delta(input.slice(half)),
    event("content_block_stop", { index: 1 }),
  ];
}

/** message_start, the text block (a delta per token), the tool block, message_delta (final usage), message_stop. */
function messagesScript(b: MockBehavior, d: MessageDraft): SseScript {
  const start = { id: d.id, type: "message", role: "assistant", model: d.model, content: [], stop_reason: null, stop_sequence: null };
  return {
    head: [
      event("message_start", { message: { ...start, ...(d.input && { usage: { ...d.input, output_tokens: 1 } }) } }),
      event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
      event("ping"),
    ],
    tokens: b.completion_tokens ?? 12,
    token: (i) => named("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: tokenText(b, i) } }),
    tail: [
      event("content_block_stop", { index: 0 }),
      ...toolBlock(d),
      event("message_delta", { delta: { stop_reason: d.stop_reason, stop_sequence: null }, ...(d.final && { usage: d.final }) }),
      event("message_stop"),
    ],
    malformed: 'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": \n\n',
    fail: event("error", { error: { type: "overloaded_error", message: "mock stream failure" } }),
  };
}
