/** The log lines of what the app and the server answer themselves (metered requests log in the meter). */
import { scrub } from "../gateway/providers/errors";
import { errors } from "../lib/errors";
import { newSortableId } from "../lib/ids";
import type { AppDeps } from "./deps";

/**
 * A path as the log shows it: one-time tokens in invite and sign-up links are secrets (the link
 * signs in), and so is anything that looks like a key. Control characters (C0, C1, line
 * separators: a redacted path is decoded) go back to their escapes, so none reaches a terminal raw.
 */
export function logPath(pathname: string): string {
  return scrub(pathname)
    .replace(/\/(invite|confirm)\/[^/]+/g, "/$1/[token]")
    .replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, encodeURIComponent)
    .slice(0, 200);
}

/** 400 for a request whose Host header is no host (its one log line names no path: the client's text). */
export function badHost(deps: AppDeps, req: Request): Response {
  const res = errors.badRequest("The Host header is not a valid host name.", null, "invalid_host").toResponse({ "x-request-id": newSortableId("req"), connection: "close" });
  if (deps.log.enabled) deps.log.request({ request_id: res.headers.get("x-request-id"), method: req.method, path: null, status: 400, duration_ms: 0 });
  return res;
}

/** The log line of a request the Elysia app answered: method, path (no query), status, time. */
export function logRequest(deps: AppDeps, req: Request, res: Response, started: number, redact: (path: string) => string): void {
  if (!deps.log.enabled) return;
  const url = new URL(req.url);
  deps.log.request({
    request_id: res.headers.get("x-request-id"),
    method: req.method,
    path: logPath(redact(url.pathname)),
    status: res.status,
    duration_ms: Math.round(performance.now() - started),
  });
}

