import { isJson, list, namedEvent, parsed, type Json } from "./as-stream";

/**
 * A whole message as the events a stream of it would have been: message_start (no content yet,
 * the input usage), each content block started empty, filled by one delta and stopped,
 * message_delta with the stop reason and the whole usage (the SDKs take its counts as the
 * message's), message_stop.
 */
export function messagesAsStream(rendered: string): string {
  const { content, stop_reason, stop_sequence, usage, ...head } = parsed(rendered);
  // Always a usage: the SDK's stream reader takes its counts without checking (none reported: zeros).
  const u = isJson(usage) ? usage : { input_tokens: 0, output_tokens: 0 };
  const ev = (type: string, data: Json = {}) => namedEvent(type, { type, ...data });
  let out = ev("message_start", { message: { ...head, content: [], stop_reason: null, stop_sequence: null, usage: { ...u, output_tokens: 0 } } });
  list(content).forEach((block, index) => (out += blockEvents(isJson(block) ? block : {}, index, ev)));
  out += ev("message_delta", { delta: { stop_reason: stop_reason ?? null, stop_sequence: stop_sequence ?? null }, usage: u });
  return out + ev("message_stop");
}

type Emit = (type: string, data?: Json) => string;

/** One block: text, thinking and tool input as one delta each (as the SDKs accumulate them); any other block whole. */
function blockEvents(block: Json, index: number, ev: Emit): string {
  const delta = (d: Json) => ev("content_block_delta", { index, delta: d });
  let out: string;
  if (block.type === "text" && typeof block.text === "string") {
    out = ev("content_block_start", { index, content_block: { ...block, text: "" } }) + delta({ type: "text_delta", text: block.text });
  } else if (block.type === "thinking" && typeof block.thinking === "string") {
    out = ev("content_block_start", { index, content_block: { ...block, thinking: "", signature: "" } }) + delta({ type: "thinking_delta", thinking: block.thinking });
    if (typeof block.signature === "string") out += delta({ type: "signature_delta", signature: block.signature });
  } else if ((block.type === "tool_use" || block.type === "server_tool_use") && block.input !== undefined) {
    out = ev("content_block_start", { index, content_block: { ...block, input: {} } }) + delta({ type: "input_json_delta", partial_json: JSON.stringify(block.input) });
  } else {
    out = ev("content_block_start", { index, content_block: block });
  }
  return out + ev("content_block_stop", { index });
}
