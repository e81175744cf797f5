import { isJson, list, namedEvent, parsed, type Json } from "./as-stream";

/** The last event for each status of a finished response (anything else reads as completed). */
const LAST: Record<string, string> = { incomplete: "response.incomplete", failed: "response.failed" };

/**
 * A whole response as the events a stream of it would have been, numbered from 0: created and
 * in_progress (no output yet), each output item added, filled and done, then response.completed
 * (or .incomplete, .failed) with the whole response and its usage. The SDKs check every item's
 * id, in its events and in the final response: an item without one is given one. Should an item
 * still be unnamed (not an object), only the lifecycle events go out, the last carrying the output.
 */
export function responsesAsStream(rendered: string): string {
  const r = parsed(rendered);
  if (Array.isArray(r.output)) r.output = r.output.map((item, i) => (isJson(item) && !named(item) ? { ...item, id: `item_${i}_${String(r.id ?? "")}` } : item));
  let seq = 0;
  const ev = (type: string, data: Json) => namedEvent(type, { type, sequence_number: seq++, ...data });
  const started = { ...r, status: "in_progress", output: [], usage: null };
  let out = ev("response.created", { response: started }) + ev("response.in_progress", { response: started });
  const items = list(r.output);
  if (items.every(named)) items.forEach((item, i) => (out += itemEvents(item as Json, i, ev)));
  const last = LAST[String(r.status)] ?? "response.completed";
  return out + ev(last, { response: r });
}

/** An item the events can name: an id, or a function call's call_id (its id is optional there). */
const named = (item: unknown): boolean =>
  isJson(item) && ((typeof item.id === "string" && item.id !== "") || (item.type === "function_call" && typeof item.call_id === "string"));

type Emit = (type: string, data: Json) => string;

/** One output item: added (empty), its content or arguments, done (whole). */
function itemEvents(item: Json, output_index: number, ev: Emit): string {
  const pending = item.status === undefined ? {} : { status: "in_progress" };
  const at = { item_id: item.id, output_index };
  if (item.type === "message") {
    let out = ev("response.output_item.added", { output_index, item: { ...item, ...pending, content: [] } });
    list(item.content).forEach((part, content_index) => (out += partEvents(part, { ...at, content_index }, ev)));
    return out + ev("response.output_item.done", { output_index, item });
  }
  if (item.type === "function_call" && typeof item.id === "string" && typeof item.arguments === "string") {
    return (
      ev("response.output_item.added", { output_index, item: { ...item, ...pending, arguments: "" } }) +
      ev("response.function_call_arguments.delta", { ...at, delta: item.arguments }) +
      ev("response.function_call_arguments.done", { ...at, arguments: item.arguments }) +
      ev("response.output_item.done", { output_index, item })
    );
  }
  return ev("response.output_item.added", { output_index, item: { ...item, ...pending } }) + ev("response.output_item.done", { output_index, item });
}

/** One content part of a message: text and refusals as one delta each; any other part whole. */
function partEvents(part: unknown, at: Json, ev: Emit): string {
  const p = isJson(part) ? part : {};
  if (p.type === "output_text" && typeof p.text === "string") {
    return (
      ev("response.content_part.added", { ...at, part: { ...p, text: "", annotations: [] } }) +
      ev("response.output_text.delta", { ...at, delta: p.text, logprobs: [] }) +
      ev("response.output_text.done", { ...at, text: p.text, logprobs: [] }) +
      ev("response.content_part.done", { ...at, part: p })
    );
  }
  if (p.type === "refusal" && typeof p.refusal === "string") {
    return (
      ev("response.content_part.added", { ...at, part: { ...p, refusal: "" } }) +
      ev("response.refusal.delta", { ...at, delta: p.refusal }) +
      ev("response.refusal.done", { ...at, refusal: p.refusal }) +
      ev("response.content_part.done", { ...at, part: p })
    );
  }
  return ev("response.content_part.added", { ...at, part: p }) + ev("response.content_part.done", { ...at, part: p });
}
