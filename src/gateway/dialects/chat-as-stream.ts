import { dataEvent, isJson, list, parsed, type Json } from "./as-stream";

/**
 * A whole chat completion as the chunks a stream of it would have been: per choice one chunk with
 * the role and the whole message (content, tool calls with their index, refusal, reasoning), then
 * one with its finish_reason; the usage chunk (no choices) when the client asked for usage; [DONE].
 */
export function chatAsStream(rendered: string, body: { stream_options?: { include_usage?: boolean | null } | null }): string {
  const answer = parsed(rendered);
  const { choices, usage, object: _object, ...head } = answer;
  const chunk = (extra: Json) => dataEvent({ ...head, object: "chat.completion.chunk", ...extra });
  let out = "";
  list(choices).forEach((c, i) => {
    const choice = isJson(c) ? c : {};
    const index = typeof choice.index === "number" ? choice.index : i;
    out += chunk({ choices: [{ index, delta: messageDelta(choice.message), logprobs: choice.logprobs ?? null, finish_reason: null }] });
    out += chunk({ choices: [{ index, delta: {}, logprobs: null, finish_reason: choice.finish_reason ?? "stop" }] });
  });
  if (body.stream_options?.include_usage === true && usage !== undefined) out += chunk({ choices: [], usage });
  return out + "data: [DONE]\n\n";
}

/** A message as one delta: every field as it is, tool calls numbered (a stream's deltas carry their index). */
function messageDelta(message: unknown): Json {
  const m = isJson(message) ? message : {};
  const delta: Json = { ...m, role: typeof m.role === "string" ? m.role : "assistant" };
  if (Array.isArray(m.tool_calls)) delta.tool_calls = m.tool_calls.map((t, index) => ({ index, ...(isJson(t) ? t : {}) }));
  return delta;
}

/** A whole legacy completion as its stream: one chunk per choice with its text and finish_reason, the usage chunk when asked, [DONE]. */
export function completionsAsStream(rendered: string, body: { stream_options?: { include_usage?: boolean | null } | null }): string {
  const { choices, usage, ...head } = parsed(rendered);
  let out = "";
  for (const c of list(choices)) out += dataEvent({ ...head, object: "text_completion", choices: [c] });
  if (body.stream_options?.include_usage === true && usage !== undefined) out += dataEvent({ ...head, object: "text_completion", choices: [], usage });
  return out + "data: [DONE]\n\n";
}
