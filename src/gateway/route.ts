import { bearer } from "../lib/bearer";
import { discardUnread, readBody, refuseLargeHeaders } from "../lib/body-cap";
import { ApiError, errors } from "../lib/errors";
import { newSortableId } from "../lib/ids";
import { tooDeep, MAX_JSON_DEPTH } from "../lib/json-depth";
import { toApiError } from "../lib/to-api-error";
import { ChatRequest, type ChatRequestT } from "./chat-request";
import { refuseBroke } from "./admission";
import type { GatewayDeps } from "./deps";
import type { Principal } from "./key-auth";
import { proxyChat, type ChatCall } from "./proxy";

/**
 * POST /v1/chat/completions as a plain Request → Response function: the one implementation of
 * the route. The server hands it to Bun.serve's router, ahead of Elysia, whose per-request
 * lifecycle cost more than the rest of the gateway's work on this path (docs/benchmarks.md);
 * the Elysia controller (modules/chat) delegates to it and documents it in the OpenAPI spec.
 *
 * It does what the app's plugins do for every other route: a request id, the limits on headers
 * and body, the customer key (checked first, before any of the body is read), the schema (400
 * with `param`) and the OpenAI error envelope carrying x-request-id and the key's x-ratelimit-*
 * headers. `onAdmitted` runs once the request holds credit (the server then lets it outlive
 * the idle timer: nothing else may).
 */
export function chatRoute(deps: GatewayDeps) {
  const limit = deps.config.max_body_bytes;
  const bodyMs = deps.config.timeouts.body_ms;
  return async (request: Request, requestId = newSortableId("req"), onAdmitted?: () => void): Promise<Response> => {
    const started = performance.now();
    let principal: Principal | null = null;
    let call: ChatCall | null = null;
    try {
      refuseLargeHeaders(request);
      const h = request.headers;
      principal = deps.keys.authenticate(bearer(h.get("authorization")) ?? h.get("x-api-key"));
      refuseBroke(deps, principal);
      const body = parseChat(await readBody(request, limit, bodyMs));
      call = { principal, body, signal: request.signal, requestId, onAdmitted, admitted: false };
      const response = await proxyChat(deps, call);
      deps.metrics?.response(response.status);
      return response;
    } catch (e) {
      const error = e instanceof ApiError ? e : toApiError("UNKNOWN", e);
      const carried = principal ? deps.limiter.headers(principal) : {};
      deps.metrics?.response(error.status);
      // An admitted request wrote its line when it settled; a refused one writes it here.
      if (!call?.admitted) refused(deps, requestId, principal, call?.body.model ?? null, error, started);
      const drained = await discardUnread(request);
      const res = error.toResponse({ ...carried, "x-request-id": requestId });
      // A sender still holding back its body is not waited for: the connection ends with the answer.
      if (!drained) res.headers.set("connection", "close");
      return res;
    }
  };
}

const decoder = new TextDecoder();

/** The body as a chat request: JSON (not pathologically deep) that passes the schema, or a 400. */
function parseChat(bytes: Uint8Array): ChatRequestT {
  const text = decoder.decode(bytes);
  if (tooDeep(text, MAX_JSON_DEPTH)) {
    throw errors.badRequest(`The JSON body is nested more than ${MAX_JSON_DEPTH} levels deep.`, null, "json_too_deep");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw toApiError("PARSE", null);
  }
  const parsed = ChatRequest.safeParse(json);
  if (!parsed.success) throw toApiError("VALIDATION", { type: "body", valueError: parsed.error.issues[0] });
  return parsed.data;
}

/** The log line of a request refused before it held credit (401, 400, 402, 404, 413, 429, 503). */
function refused(deps: GatewayDeps, requestId: string, p: Principal | null, model: string | null, e: ApiError, started: number): void {
  deps.log.request({
    request_id: requestId,
    account: p?.accountId ?? null,
    key_id: p?.keyId ?? null,
    endpoint: "chat.completions",
    model,
    status: e.status,
    error_code: e.code,
    duration_ms: Math.round(performance.now() - started),
  });
}
