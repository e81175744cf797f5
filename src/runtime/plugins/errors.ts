import { Elysia } from "elysia";
import { anthropicError } from "../../gateway/dialects/anthropic-shape";
import { toApiError } from "../../lib/to-api-error";
import { fromAnthropicClient } from "../../modules/models/anthropic";

/** Headers already set for this request that an error response keeps (x-request-id, x-ratelimit-*, ...). */
function carried(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== "string" && typeof value !== "number") continue;
    // The body is replaced by the JSON envelope: its framing headers do not apply.
    if (/^(content-type|content-length|content-encoding|transfer-encoding)$/i.test(name)) continue;
    out[name] = String(value);
  }
  return out;
}

/**
 * Anthropic's SDK calls its own routes under /v1/messages (count_tokens, batches): their errors
 * are in its shape too, as are those of /v1/models asked by an Anthropic client.
 */
const anthropicPath = (url: string) => /^[a-z]+:\/\/[^/]+\/v1\/messages(\/|\?|$)/.test(url);
const anthropicModels = (request: Request) =>
  fromAnthropicClient(request.headers) && /^[a-z]+:\/\/[^/]+\/v1\/models(\/|\?|$)/.test(request.url);

export const errorHandler = new Elysia({ name: "error-handler" }).onError({ as: "global" }, ({ code, error, set, request }) => {
  const e = toApiError(code, error);
  return anthropicPath(request.url) || anthropicModels(request) ? anthropicError(e, carried(set.headers)) : e.toResponse(carried(set.headers));
});
