import { ApiError } from "../../lib/errors";
import { itemIds, type StoredObject, type StoredObjects } from "../../gateway/stored-objects";
import { readResponsesUsage, showResponsesUsage } from "../../gateway/dialects/responses-usage";
import { callTarget } from "../../gateway/upstream/direct";
import { saysGone } from "../../gateway/providers/errors";
import { unreadable } from "../../gateway/meter";
import { parseJsonObject } from "../../lib/json-object";
import { answerTooLarge, BodyTooLarge, cappedText } from "../../lib/capped-body";
import { positionalRef, type UpstreamRegistry } from "../../gateway/upstream/registry";
import type { Asker } from "../../gateway/reach";

const notFound = (id: string) => new ApiError(404, `Response with id '${id}' not found.`, "invalid_request_error", "not_found", "id");

/** The caller's own stored response, or the 404 any other account's, member's (or an unknown) id gets. */
export async function ownResponse(objects: StoredObjects, id: string, who: Asker): Promise<StoredObject> {
  const obj = await objects.owned(id, who);
  if (!obj) throw notFound(id);
  return obj;
}

/**
 * `stream=true` (the SDKs' `retrieve(id, {stream: true})`, `responses.stream({response_id})`) asks
 * to replay the response's events, which the gateway does not serve: a 400 the SDKs raise, where
 * the JSON answer would end their event iterator silently, with no events and no error.
 */
export function refuseStream(request: Request): void {
  const stream = new URL(request.url).searchParams.get("stream");
  if (stream === null || stream === "false") return;
  throw new ApiError(
    400,
    "Streaming a stored response (stream=true) is not supported through this gateway: retrieve it without stream.",
    "invalid_request_error",
    "unsupported_parameter",
    "stream",
  );
}

/** What a retrieve may ask the upstream (`stream` is not: refused above), and what an input-item list may. */
export const RETRIEVE_QUERY = ["include", "include[]"];
export const ITEMS_QUERY = ["after", "before", "limit", "order", "include", "include[]"];

/** The request's query, only the parameters named (repeated ones kept): an SDK pages with them. */
export function passedQuery(request: Request, names: readonly string[]): string {
  const given = new URL(request.url).searchParams;
  const out = new URLSearchParams();
  for (const [k, v] of given) if (names.includes(k)) out.append(k, v);
  const q = out.toString();
  return q ? `?${q}` : "";
}

/**
 * Reads (GET) or deletes (DELETE) a stored response on the upstream key that holds it. A read
 * shows the usage as its creation did (output with reasoning, the cost as what it was charged).
 */
export async function forward(
  reg: UpstreamRegistry, objects: StoredObjects, obj: StoredObject,
  how: { method: "GET" | "DELETE"; requestId: string | null; maxBytes: number; suffix?: string; query?: string },
): Promise<unknown> {
  const { method, suffix = "", query = "" } = how;
  // Only the upstream's own error envelope naming the response (not in an echoed path) says it is
  // gone; any other 404 (a route's page, "Invalid URL (GET /v1/responses/…)") is a 502 (callTarget).
  const gone = (text: string) => saysGone(text, obj.id);
  const res = await callTarget(reg, obj.target, method, `/responses/${encodeURIComponent(obj.id)}${suffix}${query}`, how.requestId, gone);
  if (res.status === 404) {
    // Gone upstream (expired, deleted elsewhere): forget it here too, unless the key asked may not
    // be the one that holds it (a positional reference, recorded before stable ones).
    if ((method === "DELETE" || suffix === "") && !positionalRef(obj.target)) await objects.remove(obj.id);
    throw notFound(obj.id);
  }
  // An answer that is no JSON object is the upstream's fault: 502, as on the metered routes.
  // Read within max_answer_bytes, as any whole answer: one larger is a 502 that forgets nothing.
  const text = await cappedText(res, how.maxBytes).catch((e) => {
    if (e instanceof BodyTooLarge) throw answerTooLarge();
    return "";
  });
  const json = parseJsonObject<{ usage?: Record<string, unknown> | null; output?: unknown; data?: unknown }>(text);
  if (!json || Array.isArray(json)) throw unreadable();
  if (json.usage && typeof json.usage === "object") showResponsesUsage(json.usage, readResponsesUsage(json.usage), () => obj.chargeMicros);
  if (method === "DELETE") await objects.remove(obj.id);
  // The items it shows are its owner's to name later (item_reference), and nobody else's: the input
  // items are learnt only here, and a response recorded before its output items were gets them now.
  else if (res.ok) await objects.learn(obj, itemIds(suffix === "/input_items" ? json.data : json.output));
  return json;
}
