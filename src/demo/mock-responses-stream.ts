/**
 * A Responses stream: named SSE events, each `{ type, sequence_number, ... }`, from
 * response.created to response.completed (or response.incomplete), no [DONE]. `fail_stream` ends
 * it with response.failed or an `error` event.
 */
import type { MockBehavior } from "./mock-behavior";
import { type ScriptEvent, type SseScript, named, tokenText } from "./mock-stream";

/** A response being created: the object as it ends, and what the stream needs to send it. */
export interface ResponseDraft {
  response: Record<string, unknown>;
  /** Its output items, as they end (a reasoning item first when there was reasoning). */
  output: Record<string, unknown>[];
  /** The answer's text, and the message item's id and index in `output`. */
  text: string;
  messageId: string;
  messageIndex: number;
}

/** The response as a failed stream leaves it (with the usage billed for it, when there is one). */
export function failedResponse(response: Record<string, unknown>, usage: unknown = null): Record<string, unknown> {
  return { ...response, status: "failed", completed_at: null, output: [], usage, error: { code: "server_error", message: "mock stream failure" } };
}

const event =
  (type: string, data: Record<string, unknown>): ScriptEvent =>
  (seq) =>
    named(type, { type, sequence_number: seq, ...data });

/** The output items before the message (reasoning): added, then done. */
function itemsBefore(d: ResponseDraft): ScriptEvent[] {
  return d.output.slice(0, d.messageIndex).flatMap((item, output_index) => [
    event("response.output_item.added", { output_index, item: { ...item, status: "in_progress" } }),
    event("response.output_item.done", { output_index, item }),
  ]);
}

export function responsesScript(b: MockBehavior, d: ResponseDraft): SseScript {
  const started = { ...d.response, status: "in_progress", completed_at: null, incomplete_details: null, output: [], usage: null };
  const message = d.output[d.messageIndex]!;
  const at = { item_id: d.messageId, output_index: d.messageIndex };
  const part = (text: string) => ({ type: "output_text", text, annotations: [] });
  const last = d.response.status === "incomplete" ? "response.incomplete" : "response.completed";
  return {
    head: [
      event("response.created", { response: started }),
      event("response.in_progress", { response: started }),
      ...itemsBefore(d),
      event("response.output_item.added", { output_index: d.messageIndex, item: { ...message, status: "in_progress", content: [] } }),
      event("response.content_part.added", { ...at, content_index: 0, part: part("") }),
    ],
    tokens: b.completion_tokens ?? 12,
    token: (i, seq) => event("response.output_text.delta", { ...at, content_index: 0, delta: tokenText(b, i) })(seq),
    tail: [
      event("response.output_text.done", { ...at, content_index: 0, text: d.text }),
      event("response.content_part.done", { ...at, content_index: 0, part: part(d.text) }),
      event("response.output_item.done", { output_index: d.messageIndex, item: message }),
      event(last, { response: d.response }),
    ],
    malformed: 'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": \n\n',
    fail:
      b.fail_stream === "failed"
        ? event("response.failed", { response: failedResponse(started, b.failed_usage ? d.response.usage : null) })
        : event("error", { code: "server_error", message: "mock stream failure", param: null }),
  };
}
