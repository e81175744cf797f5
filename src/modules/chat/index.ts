import { Elysia } from "elysia";
import { z } from "zod";
import type { AppDeps } from "../../runtime/deps";
import { ChatRequest } from "../../gateway/chat-request";
import { chatRoute } from "../../gateway/route";
import { ChatCompletionObject, DeferredStarted } from "../apis/model";
import { errorAnswers, meteredErrors } from "../apis/error-answers";

/**
 * The documented face of POST /v1/chat/completions. In the server Bun's router sends the route
 * straight to chatRoute (runtime/server.ts); through app.handle it arrives here and gets the same
 * function: the body is read, authenticated and validated there, not by Elysia (`parse: "none"`).
 */
export const chatModule = (deps: AppDeps) => {
  const handle = chatRoute(deps);
  return new Elysia({ prefix: "/v1", tags: ["customer"] }).post(
    "/chat/completions",
    ({ request, set }) => handle(request, String(set.headers["x-request-id"])),
    {
      parse: "none",
      detail: {
        summary: "Create a chat completion (OpenAI-compatible; `stream: true` for server-sent events)",
        description:
          "Validates model and messages, forwards every other field untouched to the configured upstream, reserves the worst-case cost, and charges the real usage. A file part by `file_id` is refused (400 unsupported_parameter: send the file's content). Errors use the OpenAI envelope: 400 invalid_request_error (with `param`), 401 invalid_api_key, 402 insufficient_quota, 404 model_not_found, 413 request_too_large, 429 rate_limit_exceeded, 5xx server_error.",
        requestBody: {
          required: true,
          content: { "application/json": { schema: z.toJSONSchema(ChatRequest(), { io: "input" }) as Record<string, unknown> } },
        },
        responses: chatAnswers(),
      },
    },
  );
};

/** The completion (or its stream), and with `deferred: true` the id to fetch it with. */
function chatAnswers() {
  const completion = z.toJSONSchema(ChatCompletionObject, { io: "output" }) as Record<string, unknown>;
  const deferred = z.toJSONSchema(DeferredStarted, { io: "output" }) as Record<string, unknown>;
  const content: Record<string, { schema: Record<string, unknown> }> = {
    "application/json": { schema: { oneOf: [completion, deferred] } },
    "text/event-stream": { schema: { type: "string", description: "server-sent events (stream: true)" } },
  };
  return { 200: { description: "The answer (billed from its usage); with deferred: true, {request_id} (billed when fetched)", content }, ...errorAnswers(meteredErrors()) };
}
