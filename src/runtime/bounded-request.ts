import type { Server } from "bun";
import type { Config } from "../config/load";
import { bearer } from "../lib/bearer";
import { readBody, refuseLargeHeaders } from "../lib/body-cap";
import { PEER_HEADER, takesAdminToken } from "../lib/client-address";
import { errors } from "../lib/errors";
import { MAX_JSON_DEPTH, tooDeep } from "../lib/json-depth";
import { checkAdminToken } from "../identity/admin-token";
import type { KeyAuth } from "../gateway/key-row";

/** Forms of the portal and console, sign-in included: a few fields. */
const FORM_BYTES = 64 * 1024;
/** Admin API bodies and Stripe's webhook events are small JSON. */
const ADMIN_BYTES = 1024 * 1024;

/**
 * How many body bytes a request to the Elysia app may send. None of its routes needs a big body:
 * the metered APIs, which take prompts and images (max_body_bytes), never come here.
 */
export function bodyLimitFor(path: string): number {
  if (path.startsWith("/admin") || path.startsWith("/webhooks/")) return ADMIN_BYTES;
  return FORM_BYTES;
}

/**
 * The app's customer routes that take a body: a key that does not authenticate is answered before
 * any of it is read. No other /v1 path of the app takes one: its body is not read at all (an
 * unknown route is the app's 404, key or not, whatever it sends).
 */
export const CUSTOMER_BODY_ROUTES: ReadonlySet<string> = new Set(["/v1/credits/redeem", "/v1/alerts/low-balance", "/v1/billing/checkout"]);

export interface BoundedDeps {
  config: Config;
  adminTokenHash: string;
  keys: KeyAuth;
}

/**
 * The request as the Elysia app gets it: the client's address in PEER_HEADER (what it claims
 * there is dropped), no body at all on an admin route without a valid token (the app's admin
 * gate answers 401 before anything is read or validated) or on a /v1 path that takes none, a customer route's 401 for a key that
 * does not authenticate (the same as its macro's) before its body is read, and a body read up to its
 * route's limit within timeouts.body_ms, not pathologically deep JSON, so that no route reads
 * more, waits longer or parses worse than it should (413 / 408 / 431 / 400 in the OpenAI envelope).
 */
export async function boundedRequest(req: Request, srv: Server<undefined>, deps: BoundedDeps): Promise<Request> {
  req.headers.set(PEER_HEADER, srv.requestIP(req)?.address ?? "");
  const path = new URL(req.url).pathname;
  const customer = path.startsWith("/v1/");
  if (customer) refuseLargeHeaders(req);
  // A preflight (OPTIONS) is answered by the CORS plugin, without a key, whatever it carries.
  if (req.body === null || req.method === "GET" || req.method === "HEAD" || req.method === "OPTIONS") return req;
  // A customer route answers a key that does not authenticate before its body is read or validated.
  const takesBody = !customer || CUSTOMER_BODY_ROUTES.has(path.endsWith("/") ? path.slice(0, -1) : path);
  if (customer && takesBody) await deps.keys.authenticate(bearer(req.headers.get("authorization")) ?? req.headers.get("x-api-key"));
  if (!takesBody || (takesAdminToken(req.url) && !checkAdminToken(bearer(req.headers.get("authorization")), deps.adminTokenHash))) {
    const headers = new Headers(req.headers);
    headers.delete("content-length");
    return new Request(req.url, { method: req.method, headers });
  }
  const body = await readBody(req, bodyLimitFor(path), deps.config.timeouts.body_ms);
  if (req.headers.get("content-type")?.includes("json") && tooDeep(new TextDecoder().decode(body), MAX_JSON_DEPTH)) {
    throw errors.badRequest(`The JSON body is nested more than ${MAX_JSON_DEPTH} levels deep.`, null, "json_too_deep");
  }
  return new Request(req.url, { method: req.method, headers: req.headers, body: body as Uint8Array<ArrayBuffer> });
}
