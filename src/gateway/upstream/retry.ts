/** The longest single backoff, whatever the attempt number. */
export const MAX_BACKOFF_MS = 10_000;

/** Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(retry-1))]. */
export function backoffMs(retry: number, baseMs: number, random: () => number = Math.random): number {
  const cap = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * cap);
}

/** `retry-after-ms`, else `retry-after` (seconds or an HTTP date), in ms; null when absent or unreadable. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | null {
  const ms = headers.get("retry-after-ms");
  if (ms && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms));
  const v = headers.get("retry-after")?.trim();
  if (!v) return null;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * What an upstream failure status means for the next attempt, given the code it was translated
 * to (src/gateway/providers/errors.ts):
 * - `retry`: transient (429, 408, 5xx): the same key may be tried again after a backoff;
 * - `next_key`: this key is refused (credentials, upstream credit): not again for this request;
 * - `next_deployment`: the deployment does not serve the model (404), or redirects (3xx, never
 *   followed): try another provider;
 * - `fatal`: the request itself is wrong (400, 413, 422): no other upstream would accept it.
 * `breaker`: whether it counts as a failure of the key.
 */
export function classifyStatus(status: number, translatedCode: string | null): { action: "retry" | "next_key" | "next_deployment" | "fatal"; breaker: boolean } {
  const keyProblem = translatedCode === "upstream_auth_error" || (translatedCode === "upstream_unavailable" && status < 500);
  if (keyProblem || status === 401 || status === 402 || status === 403) return { action: "next_key", breaker: true };
  if (status === 404) return { action: "next_deployment", breaker: false };
  // A redirect is never followed (the key would go with it): the deployment is misconfigured.
  if (status >= 300 && status < 400) return { action: "next_deployment", breaker: true };
  if (status === 408 || status === 429 || status >= 500) return { action: "retry", breaker: true };
  return { action: "fatal", breaker: false };
}
