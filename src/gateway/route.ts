import { ApiError, errors } from "../lib/errors";
import { newSortableId } from "../lib/ids";
import { toApiError } from "../lib/to-api-error";
import { discardUnread, refuseDeclaredOver } from "../lib/body-cap";
import { bearer } from "../lib/bearer";
import type { Principal } from "./key-auth";
import { ChatRequest } from "./chat-request";
import type { GatewayDeps } from "./deps";
import { proxyChat } from "./proxy";

/**
 * POST /v1/chat/completions as a plain Request → Response function: the one implementation of
 * the route. The server hands it to Bun.serve's router, ahead of Elysia, whose per-request
 * lifecycle cost more than the rest of the gateway's work on this path (docs/benchmarks.md);
 * the Elysia controller (modules/chat) delegates to it and documents it in the OpenAPI spec.
 *
 * It does what the app's plugins do for every other route: a request id, the body limit, the
 * customer key (checked first, as OpenAI does), the schema (400 with `param`) and the OpenAI
 * error envelope carrying x-request-id and the key's x-ratelimit-* headers.
 */
export function chatRoute(deps: GatewayDeps) {
  const limit = deps.config.max_body_bytes;
  return async (request: Request, requestId = newSortableId("req")): Promise<Response> => {
    let principal: Principal | null = null;
    try {
      refuseDeclaredOver(request, limit);
      const h = request.headers;
      principal = deps.keys.authenticate(bearer(h.get("authorization")) ?? h.get("x-api-key"));
      const text = await request.text();
      if (text.length > limit && Buffer.byteLength(text) > limit) throw errors.tooLarge(limit);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw toApiError("PARSE", null);
      }
      const parsed = ChatRequest.safeParse(json);
      if (!parsed.success) throw toApiError("VALIDATION", { type: "body", valueError: parsed.error.issues[0] });
      const response = await proxyChat(deps, { principal, body: parsed.data, signal: request.signal, requestId });
      deps.metrics?.response(response.status);
      return response;
    } catch (e) {
      const error = e instanceof ApiError ? e : toApiError("UNKNOWN", e);
      const carried = principal ? deps.limiter.headers(principal) : {};
      deps.metrics?.response(error.status);
      await discardUnread(request);
      return error.toResponse({ ...carried, "x-request-id": requestId });
    }
  };
}
