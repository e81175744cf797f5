import { isObject } from "../../lib/checks";
import { isImagePart } from "../estimate";
import { NESTING } from "./file-ids";

/**
 * Whether any of `lists` (messages, input items, a system prompt) names a file the upstream
 * fetches itself: a Responses `input_file` by `file_url`, an Anthropic `document` with a `url`
 * source, a file part whose data is a URL. The upstream bills what it fetched as prompt, of a
 * size the gateway cannot know, so the hold counts the largest prompt the model takes (the
 * demand's upToContext); an image by URL is an image part instead, held at its fixed size.
 */
export function fetchesFile(...lists: unknown[]): boolean {
  return lists.some(fetchedIn);
}

/** Content nests in the same fields as file ids do; the recursion is bounded by the route's JSON depth limit. */
function fetchedIn(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(fetchedIn);
  if (!isObject(node) || isImagePart(node)) return false;
  if (typeof node.file_url === "string" || isUrl(node.file_data)) return true;
  if (isObject(node.source) && node.source.type === "url") return true;
  return NESTING.some((key) => fetchedIn(node[key]));
}

/** Inline data is a data: URL or bare base64; only a web address is fetched. */
const isUrl = (v: unknown) => typeof v === "string" && /^https?:\/\//i.test(v);
