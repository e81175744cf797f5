import { ApiError, errors, isSqliteBusy } from "./errors";

type Issue = { message?: string; code?: unknown; keys?: unknown[]; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> };
type Standard = { "~standard"?: { validate(v: unknown): unknown } };

function issuePath(issue: Issue | undefined): string | null {
  const path = issue?.path?.map((p) => String(typeof p === "object" && p !== null ? p.key : p)).join(".");
  return path || null;
}

/**
 * Where our answer broke its schema, as issue paths and codes only: the answer itself (and an
 * issue's message or value) may hold a new key's secret or members' emails, never to be logged.
 */
function schemaIssues(e: { validator?: Standard & { schema?: Standard }; value?: unknown; valueError?: Issue }): string {
  let issues: readonly Issue[] = e.valueError ? [e.valueError] : [];
  try {
    // Elysia keeps the first issue only; the (zod) schema gives them all again.
    const r = (e.validator?.["~standard"] ?? e.validator?.schema?.["~standard"])?.validate(e.value) as { issues?: Issue[] } | undefined;
    if (r && !(r instanceof Promise) && r.issues?.length) issues = r.issues;
  } catch {
    // The first issue still says where.
  }
  const where = (i: Issue) => (Array.isArray(i.path) ? issuePath(i) : null) ?? "(root)";
  return issues.slice(0, 20).map((i) => `${where(i)} ${typeof i.code === "string" ? i.code : "invalid"}`).join("; ");
}

/**
 * Maps any failure (Elysia's error codes, validation issues, anything thrown) to the one error
 * type. Free of Elysia, so the chat route (gateway/route.ts) uses it without loading the framework.
 */
export function toApiError(code: string | number, error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  switch (code) {
    case "VALIDATION": {
      const e = error as Parameters<typeof schemaIssues>[0] & { type?: string };
      // Our own answer failed its schema: a server bug, not the client's fault.
      if (e.type === "response") {
        console.error("response failed its schema:", schemaIssues(e));
        return errors.internal();
      }
      // An unknown field of the body is named as the param, as a wrong one is.
      const unknown = e.valueError?.code === "unrecognized_keys" ? e.valueError.keys?.[0] : undefined;
      const param = issuePath(e.valueError) ?? (typeof unknown === "string" ? unknown : null);
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
      // Another process holds the database's write lock longer than the gateway waits (see SERVING_BUSY_MS).
      if (isSqliteBusy(error)) return databaseBusy();
      const status = (error as { status?: number })?.status;
      if (status === 413) return new ApiError(413, "Request body is too large.", "invalid_request_error", "request_too_large");
      console.error("unhandled error:", error);
      return errors.internal();
    }
  }
}

/** 503 for a write that found the database locked by another process: nothing was changed, retry. */
const databaseBusy = () =>
  new ApiError(503, "The database is busy with another process's write: please retry shortly.", "server_error", "database_busy", null, {
    "retry-after": "1",
  });
