/**
 * The Responses API as xAI serves it: POST /responses (JSON or named-event SSE), stored responses
 * (GET / DELETE /responses/{id}, GET /responses/{id}/input_items) and `previous_response_id`,
 * whose stored context comes back as (cached) input tokens.
 */
import { clampOutput, costField, promptTokensOf, toolUsage, type MockBehavior } from "./mock-behavior";
import { failedResponse, type ResponseDraft, responsesScript } from "./mock-responses-stream";
import { type MockCall, hex, json, notFound, nowSeconds, type StoredResponse } from "./mock-state";
import { fullText, sseResponse } from "./mock-stream";

export function createResponse(call: MockCall): Response {
  const { st, body } = call;
  const prevId = body.previous_response_id;
  const prev = prevId == null ? undefined : st.responses.get(String(prevId));
  if (prevId != null && !prev) return notFound(call, `Response with id '${String(prevId)}' not found`);
  const { b, truncated } = clampOutput(call.b, Number(body.max_output_tokens ?? Number.POSITIVE_INFINITY));
  const { usage, contextTokens } = responseUsage(b, body, prev?.contextTokens ?? 0);
  const draft = draftResponse(b, body, usage, truncated);
  const stream = body.stream === true;
  if (body.store !== false) {
    const stored = stream && b.fail_stream === "failed" ? failedResponse(draft.response) : draft.response;
    st.responses.set(String(draft.response.id), { response: stored, inputItems: inputItems(body.input), contextTokens });
  }
  if (!stream) return json(call, draft.response, 200, { "x-request-id": `upstream-${String(draft.response.id)}` });
  const reply = { id: String(draft.response.id), created: nowSeconds(), model: String(body.model), close: call.close };
  return sseResponse(b, responsesScript(b, draft), reply, call.req.signal);
}

/**
 * The usage: input = own prompt + the previous response's context (input and output tokens), that
 * context counted as cached. Output includes reasoning (OpenAI accounting) unless `usage: "xai"`.
 */
function responseUsage(b: MockBehavior, body: Record<string, unknown>, previous: number) {
  const input = (b.prompt_tokens ?? promptTokensOf(body.instructions ?? null, body.input)) + previous;
  const cached = Math.min(previous + (b.cached_tokens ?? 0), input);
  const completion = b.completion_tokens ?? 12;
  const reasoning = b.reasoning_tokens ?? 0;
  const output = b.usage === "xai" ? completion : completion + reasoning;
  const usage = {
    input_tokens: input,
    input_tokens_details: { cached_tokens: cached },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: reasoning },
    total_tokens: input + completion + reasoning,
    num_sources_used: b.sources ?? 0,
    ...toolUsage(b.tools),
    ...costField(b, { input_tokens: input, cached_tokens: cached, output_tokens: completion + reasoning }, body.model),
  };
  return { usage: b.usage === "none" ? null : usage, contextTokens: input + output };
}

function draftResponse(b: MockBehavior, body: Record<string, unknown>, usage: unknown, truncated: boolean): ResponseDraft {
  const hexId = hex();
  const text = fullText(b);
  const messageId = `msg_${hexId}`;
  const output: Record<string, unknown>[] = [];
  if ((b.reasoning_tokens ?? 0) > 0) output.push({ type: "reasoning", id: `rs_${hexId}`, summary: [], status: "completed" });
  const messageIndex = output.length;
  const status = truncated ? "incomplete" : "completed";
  output.push({ type: "message", id: messageId, status, role: "assistant", content: [{ type: "output_text", text, annotations: [] }] });
  const created = nowSeconds();
  const response = {
    id: `resp_${hexId}`,
    object: "response",
    created_at: created,
    completed_at: created,
    status,
    error: null,
    incomplete_details: truncated ? { reason: "max_output_tokens" } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: String(body.model),
    output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: body.reasoning ?? null,
    store: body.store !== false,
    temperature: body.temperature ?? null,
    text: body.text ?? { format: { type: "text" } },
    tool_choice: body.tool_choice ?? "auto",
    tools: body.tools ?? [],
    top_p: body.top_p ?? null,
    truncation: "disabled",
    usage,
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
  return { response, output, text, messageId, messageIndex };
}

/** The request's input as stored items: messages with content parts, other items as given. */
function inputItems(input: unknown): Record<string, unknown>[] {
  const items: unknown[] = typeof input === "string" ? [{ role: "user", content: input }] : Array.isArray(input) ? input : [];
  return items.map((raw) => {
    const item = (raw && typeof raw === "object" ? raw : { role: "user", content: String(raw) }) as Record<string, unknown>;
    if (item.role === undefined) return { id: `item_${hex(8)}`, ...item };
    const kind = item.role === "assistant" ? "output_text" : "input_text";
    const content = typeof item.content === "string" ? [{ type: kind, text: item.content }] : item.content;
    return { id: `msg_${hex(8)}`, ...item, type: "message", role: item.role, content, status: "completed" };
  });
}

function stored(call: MockCall): StoredResponse | Response {
  return call.st.responses.get(call.param) ?? notFound(call, `Response with id '${call.param}' not found`);
}

/** GET /responses/{id}. */
export function getResponse(call: MockCall): Response {
  const s = stored(call);
  return s instanceof Response ? s : json(call, s.response);
}

/** DELETE /responses/{id}. */
export function deleteResponse(call: MockCall): Response {
  const s = stored(call);
  if (s instanceof Response) return s;
  call.st.responses.delete(call.param);
  return json(call, { id: call.param, object: "response", deleted: true });
}

/** GET /responses/{id}/input_items (in input order; `?order=desc` reverses it), paged by `limit` (default 20) and `after`. */
export function responseInputItems(call: MockCall): Response {
  const s = stored(call);
  if (s instanceof Response) return s;
  const q = new URL(call.req.url).searchParams;
  const items = q.get("order") === "desc" ? [...s.inputItems].reverse() : s.inputItems;
  const after = q.get("after");
  const start = after ? items.findIndex((i) => i.id === after) + 1 : 0;
  const limit = Math.min(100, Math.max(1, Number(q.get("limit")) || 20));
  const data = items.slice(start, start + limit);
  return json(call, { object: "list", data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + limit < items.length });
}
