import { bearer } from "../lib/bearer";
import { sha256Hex } from "../lib/crypto";
import { discardUnread, readBody, refuseLargeHeaders } from "../lib/body-cap";
import { ApiError, errors } from "../lib/errors";
import { newSortableId } from "../lib/ids";
import { MAX_JSON_DEPTH, MAX_JSON_KEYS, tooDeep, tooManyKeys } from "../lib/json-depth";
import { toApiError } from "../lib/to-api-error";
import { prepareBroke, refuseBroke, sharedBooks } from "./admission";
import { budgetHeaders } from "./budget-headers";
import { estimateBytes } from "./estimate";
import type { GatewayDeps } from "./deps";
import { chatDialect } from "./dialects/chat";
import { refuseUnlistedCollections } from "./dialects/collections";
import type { Dialect, GatewayBody } from "./dialects/types";
import type { Principal } from "./key-auth";
import { proxy, type ProxyCall } from "./proxy";

/** A metered route as a plain Request → Response function: request id, optional x-request-id, and onAdmitted. */
export type GatewayRoute = (request: Request, requestId?: string, onAdmitted?: () => void, onFinished?: (unsent: number) => void) => Promise<Response>;

/**
 * A metered API route (chat completions, Responses, Messages, ...) as a plain Request → Response
 * function: the one implementation of the route. The server hands it to Bun.serve's router,
 * ahead of Elysia, whose per-request lifecycle cost more than the rest of the gateway's work on
 * this path (docs/benchmarks.md); the Elysia controllers (modules/chat, modules/apis) delegate
 * to it and document it in the OpenAPI spec.
 *
 * It does what the app's plugins do for every other route: a request id, the limits on headers
 * and body, the customer key (checked first, before any of the body is read), the schema (400
 * with `param`) and the error in the API's shape carrying x-request-id and the key's
 * x-ratelimit-* headers. `onAdmitted` runs once the request holds credit (the server then lets
 * it outlive the idle timer: nothing else may).
 */
export function gatewayRoute<B extends GatewayBody>(deps: GatewayDeps, dialect: Dialect<B>): GatewayRoute {
  const limit = deps.config.max_body_bytes;
  const bodyMs = deps.config.timeouts.body_ms;
  const searchable = new Set(deps.config.searchable_collections);
  const sameKey = deps.upstreams.registry.sameKey;
  return async (request, requestId = newSortableId("req"), onAdmitted, onFinished) => {
    const started = performance.now();
    let principal: Principal | null = null;
    let call: ProxyCall<B> | null = null;
    let bodyRead = false;
    let bodyBytes = 0;
    try {
      refuseLargeHeaders(request);
      const h = request.headers;
      const presented = bearer(h.get("authorization")) ?? h.get("x-api-key");
      // Hashed once: the key is checked again once the body is in.
      const hash = presented ? sha256Hex(presented) : undefined;
      const auth = deps.keys.authenticate(presented, hash);
      // A promise only on a shared store, for a key not in memory.
      principal = auth instanceof Promise ? await auth : auth;
      if (!dialect.free) {
        if (sharedBooks(deps)) await prepareBroke(deps, principal);
        refuseBroke(deps, principal);
      }
      const reading = deps.limiter.beforeBody?.(principal);
      let bytes: Uint8Array;
      try {
        bytes = await readBody(request, limit, bodyMs);
      } finally {
        reading?.();
      }
      bodyRead = true;
      bodyBytes = bytes.byteLength;
      const body = dialect.parse(parseJson(bytes));
      refuseUnlistedCollections((body as { tools?: unknown }).tools, searchable);
      // A lookup of a stored object is a promise; most requests have nothing to prepare.
      let prepared = dialect.prepare?.(body, { principal, objects: deps.objects, sameKey });
      if (prepared instanceof Promise) prepared = await prepared;
      // The key again, now that the body is in (it may take body_ms): revoked or expired meanwhile is refused.
      const again = deps.keys.authenticate(presented, hash);
      principal = again instanceof Promise ? await again : again;
      call = { dialect, principal, body, signal: request.signal, requestId, onAdmitted, onFinished, admitted: false, prepared };
      call.headers = forwarded(dialect, h);
      call.wantsUsage = dialect.clientWantsUsage?.(body) ?? true;
      const response = await proxy(deps, call);
      deps.metrics?.response(response.status, dialect.endpoint);
      return response;
    } catch (e) {
      // A client that left before its request was admitted (mid-body, say) is a 499 in the log, as after.
      const error = !call?.admitted && request.signal.aborted ? clientLeft() : e instanceof ApiError ? e : toApiError("UNKNOWN", e);
      // A body read and parsed costs a request and its tokens, answered or not (the headers below
      // count it); the gateway's own failures (busy, shutting down, a store that failed) are not the client's.
      if (!call?.admitted && bodyRead && principal && error.status < 500) deps.limiter.refusedAfterBody?.(principal, refusedTokens(error, bodyBytes));
      const carried = principal ? { ...deps.limiter.headers(principal), ...budgetHeaders(deps.credits, principal) } : {};
      deps.metrics?.response(error.status, dialect.endpoint);
      // An admitted request wrote its line when it settled; a refused one writes it here.
      if (!call?.admitted) refused(deps, dialect, requestId, principal, knownModel(deps, call?.body.model), error, started);
      const drained = await discardUnread(request);
      const res = dialect.errorResponse(error, { ...carried, "x-request-id": requestId });
      // A sender still holding back its body is not waited for: the connection ends with the answer.
      if (!drained) res.headers.set("connection", "close");
      return res;
    }
  };
}

/** POST /v1/chat/completions. */
export const chatRoute = (deps: GatewayDeps): GatewayRoute => gatewayRoute(deps, chatDialect);

const decoder = new TextDecoder();

/**
 * The tokens a body refused after it was read costs: its bytes at the estimate's rate, as its prompt
 * would have been taken, so that the work of parsing is bounded by the key's TPM as well as its RPM.
 * A retryable 429 of the limits costs none: its retry-after must stay true (the wait is its cost).
 */
function refusedTokens(e: ApiError, bytes: number): number {
  return e.status === 429 && e.code === "rate_limit_exceeded" && e.headers?.["x-should-retry"] !== "false" ? 0 : estimateBytes(bytes);
}

/** The body as JSON, neither pathologically deep (what breaks a parser or serialiser) nor wide (what stalls it), or a 400. */
function parseJson(bytes: Uint8Array): unknown {
  const text = decoder.decode(bytes);
  if (tooDeep(text, MAX_JSON_DEPTH)) {
    throw errors.badRequest(`The JSON body is nested more than ${MAX_JSON_DEPTH} levels deep.`, null, "json_too_deep");
  }
  if (tooManyKeys(text, MAX_JSON_KEYS)) {
    throw errors.badRequest(`The JSON body has more than ${MAX_JSON_KEYS} object keys: no prompt needs that many.`, null, "json_too_many_keys");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw toApiError("PARSE", null);
  }
}

/** The client headers the dialect forwards upstream (none for most). */
function forwarded(dialect: Dialect<GatewayBody> | Dialect<never>, h: Headers): Record<string, string> | undefined {
  if (!dialect.forwardHeaders) return undefined;
  const out: Record<string, string> = {};
  for (const name of dialect.forwardHeaders) {
    const v = h.get(name);
    if (v !== null) out[name] = v;
  }
  return out;
}

const clientLeft = () => new ApiError(499, "The client closed the request.", "invalid_request_error", "client_closed");

/** A model the catalogue has, or null: what a customer writes in `model` is never logged as such. */
function knownModel(deps: GatewayDeps, model: unknown): string | null {
  return typeof model === "string" && deps.config.models.some((m) => m.id === model) ? model : null;
}

/** The log line of a request refused before it held credit (401, 400, 402, 404, 413, 429, 503). */
function refused(deps: GatewayDeps, dialect: { endpoint: string }, requestId: string, p: Principal | null, model: string | null, e: ApiError, started: number): void {
  deps.log.request({
    request_id: requestId,
    account: p?.accountId ?? null,
    key_id: p?.keyId ?? null,
    endpoint: dialect.endpoint,
    model,
    status: e.status,
    error_code: e.code,
    duration_ms: Math.round(performance.now() - started),
  });
}
