/**
 * The one error type. Services throw it; the global handler (runtime/plugins/errors.ts) renders
 * it as the OpenAI error envelope so that every SDK parses it the same way.
 */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "insufficient_quota"
  | "requests"
  | "tokens"
  | "server_error"
  | "not_found_error"
  | "conflict_error"
  | "permission_error";

export interface ErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType = "invalid_request_error",
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toJSON(): ErrorEnvelope {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  toResponse(extra: Record<string, string> = {}): Response {
    return new Response(JSON.stringify(this.toJSON()), {
      status: this.status,
      headers: { "content-type": "application/json", ...extra, ...this.headers },
    });
  }
}

export const errors = {
  badRequest: (message: string, param: string | null = null, code: string | null = null) =>
    new ApiError(400, message, "invalid_request_error", code, param),
  invalidKey: (message = "Incorrect API key provided.") =>
    new ApiError(401, message, "invalid_request_error", "invalid_api_key"),
  adminAuth: () =>
    new ApiError(401, "Invalid or missing admin token.", "invalid_request_error", "invalid_admin_token"),
  notFound: (what: string, param: string | null = null) =>
    new ApiError(404, `${what} not found.`, "invalid_request_error", "not_found", param),
  modelNotFound: (model: string) =>
    new ApiError(
      404,
      `The model \`${model}\` does not exist or you do not have access to it.`,
      "invalid_request_error",
      "model_not_found",
      "model",
    ),
  // No "rate limit" / "429" words: LiteLLM-as-client would classify it as retryable.
  insufficientQuota: (message = "You have run out of credits. Add credits to continue.", code = "insufficient_quota") =>
    new ApiError(402, message, "insufficient_quota", code, null, { "x-should-retry": "false" }),
  conflict: (message: string, code = "conflict") => new ApiError(409, message, "invalid_request_error", code),
  tooLarge: (limit: number) =>
    new ApiError(413, `Request body is larger than the limit of ${limit} bytes.`, "invalid_request_error", "request_too_large"),
  upstream: (status: 502 | 503 | 504, message: string, code: string | null = null, headers: Record<string, string> = {}) =>
    new ApiError(status, message, "server_error", code, null, headers),
  internal: (message = "The server had an error while processing your request.") =>
    new ApiError(500, message, "server_error", null),
};

/** A SQLite error saying another connection holds the lock it needed (SQLITE_BUSY and its extended codes). */
export const isSqliteBusy = (e: unknown): boolean => String((e as { code?: unknown } | null)?.code ?? "").startsWith("SQLITE_BUSY");
