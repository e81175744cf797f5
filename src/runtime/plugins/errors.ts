import { Elysia } from "elysia";
import { anthropicError, anthropicShaped } from "../../gateway/dialects/anthropic-shape";
import { toApiError } from "../../lib/to-api-error";

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


export const errorHandler = new Elysia({ name: "error-handler" }).onError({ as: "global" }, ({ code, error, set, request }) => {
  const e = toApiError(code, error);
  return anthropicShaped(request) ? anthropicError(e, carried(set.headers)) : e.toResponse(carried(set.headers));
});
