import { ApiError, errors } from "../../lib/errors";
import { UPSTREAM_SHAPED } from "../../lib/redact-secrets";

/** Removes anything that looks like a credential from an upstream message. */
export function scrub(message: string): string {
  return message
    .replace(UPSTREAM_SHAPED, "[redacted]")
    .replace(/Bearer\s+\S+/gi, "Bearer [redacted]")
    .slice(0, 1000);
}

interface UpstreamBody {
  message: string;
  code: string | null;
  param: string | null;
}

/** Reads OpenAI-shaped `{error:{message}}`, xAI's `{code, error: "<message>"}`, or plain text. */
export function readErrorBody(text: string): UpstreamBody {
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    const e = j.error;
    if (e && typeof e === "object") {
      const o = e as Record<string, unknown>;
      return { message: String(o.message ?? ""), code: o.code == null ? null : String(o.code), param: o.param == null ? null : String(o.param) };
    }
    if (typeof e === "string") return { message: e, code: typeof j.code === "string" ? j.code : null, param: null };
    if (typeof j.message === "string") return { message: j.message, code: null, param: null };
  } catch {
    // not JSON: fall through
  }
  return { message: text.trim(), code: null, param: null };
}

/** An upstream error body's message as the gateway reads it (readErrorBody), credentials scrubbed. */
export const upstreamMessage = (text: string): string => scrub(readErrorBody(text).message);

/**
 * A request path echoed in a message ("Cannot GET /v1/…", OpenAI's "Invalid URL (GET /v1/…)", a
 * whole URL): it names the route asked, which holds the id, not an object the upstream looked for.
 */
const ECHOED_PATH = /\S*\/\S*/g;

/**
 * Whether an upstream 404's message names the stored object `id` other than in an echoed request
 * path: only then does it say the object is gone. A missing route's or the model's 404 names none.
 */
export const namesObject = (upstreamMessage: string, id: string): boolean => id !== "" && upstreamMessage.replace(ECHOED_PATH, " ").includes(id);

/**
 * The upstream API's own JSON error envelope (OpenAI's `{error: {message}}`, xAI's `{code, error:
 * "<message>"}`): its message and code; null for anything else (a route's page, Spring's
 * `{status, error, path}`, FastAPI's `{detail}`), which is never an answer about an object.
 */
function envelope(text: string): { message: string; code: string } | null {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return null;
  }
  if (!j || typeof j !== "object" || Array.isArray(j)) return null;
  const { error, code } = j as Record<string, unknown>;
  if (typeof error === "string" && typeof code === "string") return { message: scrub(error), code };
  if (!error || typeof error !== "object" || typeof (error as { message?: unknown }).message !== "string") return null;
  const inner = (error as { code?: unknown }).code;
  return { message: scrub((error as { message: string }).message), code: typeof inner === "string" ? inner : "" };
}

/** Whether an upstream 404 is its own error envelope naming the object `id` (not in an echoed path): the object is gone. */
export const saysGone = (text: string, id: string): boolean => {
  const e = envelope(text);
  return e !== null && namesObject(e.message, id);
};

/**
 * Whether an upstream 404 is its own error envelope saying not found without naming the route
 * asked (xAI's `{code, error}` for an expired deferred id): an API's own 404 for an id it does not
 * have. A message echoing the request path is the route's answer ("Not found: GET /v1/…").
 */
export function saysNotFound(text: string): boolean {
  const e = envelope(text);
  if (!e || e.message.search(ECHOED_PATH) >= 0) return false;
  return /not[ _-]?found/i.test(`${e.code} ${e.message}`);
}

/** The wait the upstream asked for, however it said it (seconds, an HTTP date, retry-after-ms), in whole seconds. */
const retryAfter = (ms: number): Record<string, string> => ({ "retry-after": String(Math.ceil(ms / 1000)) });

/** xAI answers a bad API key with a 400 that begins so (its other 400s are the request's fault). */
const BAD_UPSTREAM_KEY = /^incorrect api key provided/i;

/**
 * Maps an upstream failure (before any byte reached the client) to what the customer sees.
 * Problems with the gateway's own upstream key or credit are server errors (502/503), never
 * 401/402/403: the customer can do nothing about them. A 400 is the request's own fault and
 * stays the customer's 400 with the upstream's message, whatever words it contains. `notified`:
 * the failure was logged, so the operator can be said to know. `retryAfterMs`: the upstream's
 * retry-after (retry.ts), passed on in whole seconds.
 */
export function translateUpstreamError(status: number, text: string, retryAfterMs: number | null, notified = false): ApiError {
  const body = readErrorBody(text);
  const msg = scrub(body.message);
  const lower = msg.toLowerCase();
  const creditProblem = /credit|quota|billing|spending limit|exhausted|insufficient/.test(lower);
  if (status === 401 || (status === 400 && BAD_UPSTREAM_KEY.test(msg)) || (status === 403 && !creditProblem)) {
    const next = notified ? "The operator has been notified; please try again later." : "Please try again later.";
    return errors.upstream(502, `The upstream provider rejected the gateway's credentials. ${next}`, "upstream_auth_error");
  }
  if (status === 402 || (status === 403 && creditProblem) || (status === 429 && creditProblem)) {
    return errors.upstream(503, "The upstream provider is temporarily unavailable (capacity). Please try again later.", "upstream_unavailable");
  }
  // 529: Anthropic's "overloaded" (its SDKs then retry); the Messages route answers it as 529 again.
  if (status === 429 || status === 529) {
    return errors.upstream(503, "The upstream provider is overloaded. Please retry shortly.", "upstream_overloaded", retryAfter(retryAfterMs ?? 1000));
  }
  if (status === 413) return new ApiError(413, msg || "Request too large for the upstream model.", "invalid_request_error", "request_too_large");
  if (status === 400 || status === 422) {
    const context = /context|maximum (prompt|context|input) length|too long|too many tokens|prompt is too large/.test(lower);
    return new ApiError(400, msg || "The upstream provider rejected the request.", "invalid_request_error", context ? "context_length_exceeded" : body.code, body.param);
  }
  if (status === 404) return errors.upstream(502, "The upstream model is unavailable.", "upstream_model_unavailable");
  if (status === 503) {
    // A wait the upstream named is the client's best guess too; without one, the SDKs' own backoff.
    const wait = retryAfterMs === null ? {} : retryAfter(retryAfterMs);
    return errors.upstream(503, "The upstream provider is unavailable. Please retry shortly.", "upstream_unavailable", wait);
  }
  if (status === 504) return errors.upstream(504, "The upstream provider timed out.", "upstream_timeout");
  return errors.upstream(502, `The upstream provider failed (HTTP ${status}).`, "upstream_error");
}
