import { isObject } from "../../lib/checks";
import { ApiError } from "../../lib/errors";
import { fileIdRefused, refuseFileIds } from "./file-ids";
import type { Recorded } from "../stored-objects";
import type { Prepared, PrepareContext } from "./types";

/**
 * What a Responses request names of what the upstream stores under the key every customer shares
 * (the previous response, input items by id, conversations, containers). The upstream resolves
 * any of them for whoever knows its id, so the gateway lets a request name only what it recorded
 * as the caller's (gateway/reach.ts), and refuses the kinds of object no customer can own here.
 */

/** A stored object the request names: where, and whether it must be the caller's (its content comes from storage). */
export interface Reference {
  id: string;
  param: string;
  /** The item is named only by its id (`item_reference`), or is the previous response: unknown is a 404. */
  byId: boolean;
  previous?: true;
}

export type ReferringBody = { previous_response_id?: string | null; input: unknown; conversation?: unknown; prompt?: unknown; tools?: unknown[] | null };

/**
 * Conversations, containers, files and stored prompts are made through their own APIs (or the
 * upstream's dashboard), which the gateway does not serve: no customer can own one, so whatever id a request gives is someone else's (or the
 * operator's). A container given as an object (`{type: "auto"}`) is a new one, and passes, unless
 * it names files to copy in (file ids, as a tool's mask does).
 */
function refuseUnowned(body: ReferringBody): void {
  refuseFileIds(body.input, "input");
  if (body.conversation != null) throw unsupported("conversation", "Conversations are not supported through this gateway: continue a response of yours with previous_response_id, or send the items again.");
  // A stored prompt is made in the upstream's dashboard (the operator's), and its size is unknown to the hold.
  if (body.prompt != null) throw unsupported("prompt", "Stored prompts are not supported through this gateway: send the instructions and input themselves.");
  body.tools?.forEach((tool, i) => {
    if (!isObject(tool)) return;
    if (typeof tool.container === "string") {
      throw unsupported(`tools.${i}.container`, 'A container id is not supported through this gateway: give the container as an object ({"type": "auto"}).');
    }
    // A new container copies the files it names into itself, and a mask is read from its file: files nobody owns here.
    if (isObject(tool.container) && Array.isArray(tool.container.file_ids) && tool.container.file_ids.length > 0) throw fileIdRefused(`tools.${i}.container.file_ids.0`);
    if (isObject(tool.input_image_mask) && tool.input_image_mask.file_id != null) throw fileIdRefused(`tools.${i}.input_image_mask.file_id`);
  });
}

const unsupported = (param: string, message: string) => new ApiError(400, message, "invalid_request_error", "unsupported_parameter", param);

/**
 * Every id the request names must be recorded as the caller's when only the id says what it is
 * (previous_response_id, `item_reference`), and must not be recorded as anyone else's on any other
 * input item (whose content the caller sends itself: an unknown id there passes). Pins the request
 * to the upstream key that holds what it references. No ids: nothing to look up. Then the objects
 * nobody owns here (refuseUnowned): another's id is a 404 whatever else the request holds.
 */
export function checkReferences(body: ReferringBody, { principal, objects, sameKey }: PrepareContext): Prepared | Promise<Prepared> {
  const refs = referencesOf(body);
  if (refs.length === 0) {
    refuseUnowned(body);
    return {};
  }
  return objects.recorded(refs.map((r) => r.id), principal).then((found) => {
    const prepared = pinned(refs, found, sameKey ?? ((a, b) => a === b));
    refuseUnowned(body);
    return prepared;
  });
}

export function referencesOf(body: ReferringBody): Reference[] {
  const refs: Reference[] = [];
  if (body.previous_response_id) refs.push({ id: body.previous_response_id, param: "previous_response_id", byId: true, previous: true });
  if (!Array.isArray(body.input)) return refs;
  body.input.forEach((item, i) => {
    if (!isObject(item) || typeof item.id !== "string" || item.id === "") return;
    refs.push({ id: item.id, param: `input.${i}.id`, byId: isReference(item) });
  });
  return refs;
}

/** An item reference: its type says so, or it has none and no role either (the API's `{id}` form). */
const isReference = (item: Record<string, unknown>): boolean => item.type === "item_reference" || (item.type == null && item.role === undefined);

/** The upstream key the references share (404 for any that is not the caller's, or that lives on another key). */
function pinned(refs: readonly Reference[], found: Map<string, Recorded>, sameKey: (a: string, b: string) => boolean): Prepared {
  let pin: { target: string; by: Reference } | null = null;
  const sizes: Sizes = { historyTokens: 0 };
  const mentions: Mentions = new Map();
  for (const r of refs) {
    const o = found.get(r.id);
    // Another account's object, or none, looks the same: a 404, whatever the upstream holds.
    if (o ? !o.mine || (r.previous && o.kind !== "response") : r.byId) throw missing(r);
    if (!o || !r.byId) continue;
    // Compared by the key they name: one recorded by position (before stable ids) and one by id may be the same key.
    if (pin && !sameKey(pin.target, o.target)) throw storedApart(r, pin.by);
    pin ??= { target: o.target, by: r };
    addSize(sizes, mentions, r, o);
  }
  const items = itemTokens(mentions);
  if (items > 0) sizes.itemTokens = items;
  // The caller's own items sent with their content go where they are stored when nothing else decides.
  const target = pin?.target ?? firstOwn(refs, found);
  return target ? { pin: target, ...sizes } : {};
}

type Sizes = Pick<Prepared, "historyTokens" | "itemTokens" | "unsizedItems">;

/** Sized items named, per response (see groupOf): their size and how often each id is named. */
type Mentions = Map<string, { tokens: number; named: Map<string, number> }>;

/**
 * The upstream bills what a request names by id again, as prompt: a continuation's history, and
 * each item reference (once per mention) at its recorded size, or unknown for a row kept without one.
 */
function addSize(sizes: Sizes, mentions: Mentions, r: Reference, o: Recorded): void {
  if (r.previous) sizes.historyTokens = o.tokens;
  else if (o.tokens > 0) {
    const key = groupOf(o);
    let m = mentions.get(key);
    if (!m) mentions.set(key, (m = { tokens: 0, named: new Map() }));
    m.tokens = Math.max(m.tokens, o.tokens);
    m.named.set(o.id, (m.named.get(o.id) ?? 0) + 1);
  } else sizes.unsizedItems = true;
}

/**
 * A response's items (its output, and its input items a listing showed) are each recorded at a
 * size their whole can reach (outputItemTokens, or the response's whole size), and together are
 * at most the response's size: a group counts its largest item size once for each time its most
 * named item is.
 */
function itemTokens(mentions: Mentions): number {
  let total = 0;
  for (const { tokens, named } of mentions.values()) total += tokens * Math.max(...named.values());
  return total;
}

/**
 * The response an item was recorded with, on its upstream key (ids are the upstream's). An item
 * recorded before that was kept is a group of its own: held at its size each time, never less.
 */
const groupOf = (o: Recorded) => (o.responseId ? `response ${o.target} ${o.responseId}` : `item ${o.id}`);

/** Where the first of the caller's recorded items is stored (every recorded one is the caller's by now). */
function firstOwn(refs: readonly Reference[], found: Map<string, Recorded>): string | null {
  for (const r of refs) {
    const o = found.get(r.id);
    if (o) return o.target;
  }
  return null;
}

export function missing(r: Reference): ApiError {
  const what = r.previous ? "Previous response" : "Item";
  return new ApiError(404, `${what} with id '${r.id}' not found.`, "invalid_request_error", "not_found", r.param);
}

/** Two of the caller's objects on different upstream keys: the key that holds one does not have the other. */
function storedApart(r: Reference, first: Reference): ApiError {
  return new ApiError(404, `Item with id '${r.id}' not found where '${first.id}' is stored: they cannot be used in one request.`, "invalid_request_error", "not_found", r.param);
}
