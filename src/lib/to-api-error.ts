import { ApiError, errors } from "./errors";

type Issue = { message?: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> };

function issuePath(issue: Issue | undefined): string | null {
  const path = issue?.path?.map((p) => String(typeof p === "object" && p !== null ? p.key : p)).join(".");
  return path || null;
}

/**
 * Maps any failure (Elysia's error codes, validation issues, anything thrown) to the one error
 * type. Free of Elysia, so the chat route (gateway/route.ts) uses it without loading the framework.
 */
export function toApiError(code: string | number, error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  switch (code) {
    case "VALIDATION": {
      const e = error as { valueError?: Issue; type?: string };
      // Our own answer failed its schema: a server bug, not the client's fault.
      if (e.type === "response") {
        console.error("response failed its schema:", error);
        return errors.internal();
      }
      const param = issuePath(e.valueError);
      const where = e.type === "query" ? "query parameter" : e.type === "params" ? "path parameter" : "field";
      const message = param
        ? `Invalid ${where} '${param}': ${e.valueError?.message ?? "invalid value"}.`
        : `Invalid request ${e.type ?? "body"}: ${e.valueError?.message ?? "invalid value"}.`;
      return errors.badRequest(message, param);
    }
    case "PARSE":
      return errors.badRequest("We could not parse the JSON body of your request. Send valid JSON with content-type: application/json.");
    case "NOT_FOUND":
      return new ApiError(404, "Unknown request URL. Please check the URL and method.", "invalid_request_error", "unknown_url");
    case "INVALID_COOKIE_SIGNATURE":
      return errors.badRequest("Invalid cookie signature.");
    default: {
      const status = (error as { status?: number })?.status;
      if (status === 413) return new ApiError(413, "Request body is too large.", "invalid_request_error", "request_too_large");
      console.error("unhandled error:", error);
      return errors.internal();
    }
  }
}
