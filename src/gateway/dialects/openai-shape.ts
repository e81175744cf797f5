import type { ApiError } from "../../lib/errors";
import { sseEvent } from "../sse";

/** OpenAI's error envelope, as every OpenAI SDK parses it. */
export const openaiError = (e: ApiError, headers: Record<string, string>): Response => e.toResponse(headers);

/** A chat (or completions) stream's error: a data payload with a top-level `error` makes the SDKs throw. */
export const openaiStreamError = (message: string, code: string): string =>
  sseEvent({ error: { message, type: "server_error", param: null, code } });
