import type { Server } from "bun";
import type { Config } from "../config/load";
import { bearer } from "../lib/bearer";
import { readBody, refuseLargeHeaders } from "../lib/body-cap";
import { PEER_HEADER, takesAdminToken } from "../lib/client-address";
import { checkAdminToken } from "../identity/admin-token";

/** Forms of the portal and console, sign-in included: a few fields. */
const FORM_BYTES = 64 * 1024;
/** Admin API bodies and Stripe's webhook events are small JSON. */
const ADMIN_BYTES = 1024 * 1024;

/**
 * How many body bytes a request to the Elysia app may send: routes that need no big body get a
 * small limit. The chat route has its own (max_body_bytes).
 */
export function bodyLimitFor(path: string, config: Config): number {
  if (path.startsWith("/admin") || path.startsWith("/webhooks/")) return ADMIN_BYTES;
  if (path.startsWith("/v1/")) return config.max_body_bytes;
  return FORM_BYTES;
}

/**
 * The request as the Elysia app gets it: the client's address in PEER_HEADER (what it claims
 * there is dropped), no body at all on an admin route without a valid token (the admin gate
 * answers before anything is read or validated), and a body read up to its route's limit within
 * timeouts.body_ms, so that no route reads more, or waits longer, than it should (413 / 408 /
 * 431 in the OpenAI envelope).
 */
export async function boundedRequest(req: Request, srv: Server<undefined>, config: Config, adminTokenHash: string): Promise<Request> {
  req.headers.set(PEER_HEADER, srv.requestIP(req)?.address ?? "");
  const path = new URL(req.url).pathname;
  if (path.startsWith("/v1/")) refuseLargeHeaders(req);
  if (req.body === null || req.method === "GET" || req.method === "HEAD") return req;
  // Without a valid admin token nothing of the body is read: the app's admin gate answers 401 (or 429).
  if (takesAdminToken(req.url) && !checkAdminToken(bearer(req.headers.get("authorization")), adminTokenHash)) {
    const headers = new Headers(req.headers);
    headers.delete("content-length");
    return new Request(req.url, { method: req.method, headers });
  }
  const body = await readBody(req, bodyLimitFor(path, config), config.timeouts.body_ms);
  return new Request(req.url, { method: req.method, headers: req.headers, body: body as Uint8Array<ArrayBuffer> });
}
