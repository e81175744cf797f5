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
 * Whether an upstream 404's message names the stored object `id`: only then does it say the
 * object is gone. A missing route's or the model's 404 names none, and forgets nothing.
 */
export const namesObject = (upstreamMessage: string, id: string): boolean => id !== "" && upstreamMessage.includes(id);

/**
 * Whether an upstream error body is its JSON error envelope (xAI's `{code, error}`, OpenAI's
 * `{error: {message, code}}`) saying not found: an API's own 404 for an id it does not have,
 * never a missing route's page ("404 page not found", an HTML page, FastAPI's `{"detail": …}`).
 */
export function saysNotFound(text: string): boolean {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return false;
  }
  if (!j || typeof j !== "object" || !("error" in j) || j.error == null) return false;
  const { message, code } = readErrorBody(text);
  return /not[ _-]?found/i.test(`${code ?? ""} ${message}`);
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
