/**
 * CORS for the customer API (/v1), so that pages may call it from a browser as they can call
 * OpenAI's (whose API allows any origin). Keys travel in the Authorization header, never in
 * cookies, and credentialed requests are never allowed: "*" lets a page send nothing it could not
 * send anyway, it only lets the page read the answer.
 */
export interface Cors {
  /** Headers for the response to a request from `origin`; null when there is none or it is not allowed. */
  headers(origin: string | null): Record<string, string> | null;
  /** The answer to a preflight (see isPreflight): 204, with the allow headers if the origin is allowed. */
  preflight(request: Request): Response;
}

/** What a page may read besides the body: what the OpenAI SDKs read (request id, limits, retry hints). */
const EXPOSED = [
  "x-request-id", "request-id",
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
  "retry-after",
  "retry-after-ms",
  "x-should-retry",
  "x-budget-remaining",
  "x-budget-reset",
].join(", ");
const METHODS = "GET, POST, PUT, DELETE, OPTIONS";
/** The SDKs send X-Stainless-* and more: the headers a preflight asks for are echoed if they are a plain list of names. */
const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(?:\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;
/** Chromium caps the preflight cache at two hours. */
const MAX_AGE = "7200";

/** The policy for `origins` ("*" or exact origins); null when the list is empty (CORS off). */
export function corsPolicy(origins: readonly string[]): Cors | null {
  if (origins.length === 0) return null;
  const any = origins.includes("*");
  const allowed = new Set(origins);
  const allow = (origin: string | null) => (origin === null ? null : any ? "*" : allowed.has(origin) ? origin : null);
  // With a list, the answer depends on the Origin header: caches must key on it.
  const vary: Record<string, string> = any ? {} : { vary: "Origin" };
  return {
    headers(origin) {
      const o = allow(origin);
      return o ? { "access-control-allow-origin": o, "access-control-expose-headers": EXPOSED, ...vary } : null;
    },
    preflight(request) {
      const o = allow(request.headers.get("origin"));
      if (!o) return new Response(null, { status: 204, headers: vary });
      const asked = request.headers.get("access-control-request-headers")?.trim();
      return new Response(null, {
        status: 204,
        headers: {
          "access-control-allow-origin": o,
          "access-control-allow-methods": METHODS,
          "access-control-allow-headers": asked && HEADER_LIST.test(asked) ? asked : "authorization, content-type",
          "access-control-max-age": MAX_AGE,
          ...vary,
        },
      });
    },
  };
}

export const isPreflight = (request: Request): boolean => request.method === "OPTIONS" && request.headers.has("access-control-request-method");

/** Whether a URL is on the customer API (/v1/...), the only part CORS applies to. */
const CUSTOMER_API = /^[a-z]+:\/\/[^/]+\/v1(?:[/?#]|$)/i;
export const isCustomerApi = (url: string): boolean => CUSTOMER_API.test(url);
