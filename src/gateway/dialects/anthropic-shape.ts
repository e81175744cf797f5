import type { ApiError } from "../../lib/errors";

/** Anthropic's error types by HTTP status (what the Anthropic SDKs map to their error classes). */
function anthropicType(status: number): string {
  switch (status) {
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

/**
 * An error in Anthropic's envelope `{"type":"error","error":{"type","message"}}`, with its
 * statuses: an upstream that is unavailable or overloaded is 529 overloaded_error (retried by the
 * SDKs), credits 402 billing_error, limits 429 rate_limit_error with retry-after.
 */
export function anthropicError(e: ApiError, headers: Record<string, string>): Response {
  const status = e.status === 503 ? 529 : e.status;
  const body = { type: "error", error: { type: anthropicType(status), message: e.message } };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers, ...e.headers, "request-id": headers["x-request-id"] ?? "" },
  });
}

/** A stream's error event in Anthropic's shape (what the SDKs raise mid-stream). */
export const anthropicStreamError = (message: string, code: string): string => {
  const type = code === "server_shutting_down" || code === "upstream_unavailable" ? "overloaded_error" : "api_error";
  return `event: error\ndata: ${JSON.stringify({ type: "error", error: { type, message } })}\n\n`;
};

/**
 * Requests answered in Anthropic's shape besides POST /v1/messages: any path under it (the SDK's
 * count_tokens and batches, which the gateway does not serve), and /v1/models asked by an
 * Anthropic client (its SDKs always send anthropic-version).
 */
export function anthropicShaped(request: Request): boolean {
  const path = /^[a-z]+:\/\/[^/]+(\/v1\/(?:messages|models))(?:\/|\?|$)/.exec(request.url)?.[1];
  return path === "/v1/messages" || (path === "/v1/models" && request.headers.has("anthropic-version"));
}
