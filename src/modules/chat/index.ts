import { Elysia } from "elysia";
import type { AppDeps } from "../../app";
import { authPlugin } from "../auth";
import { ChatRequest } from "./model";
import { proxyChat } from "./service";

export const chatModule = (deps: AppDeps) =>
  new Elysia({ prefix: "/v1", tags: ["customer"] })
    .use(authPlugin(deps))
    .post(
      "/chat/completions",
      // The idle timeout is switched off for this route in server.ts (app.fetch carries no server).
      ({ body, principal, request, set }) =>
        proxyChat(deps, {
          principal,
          body,
          signal: request.signal,
          requestId: String(set.headers["x-request-id"]),
        }),
      {
        customer: true,
        body: ChatRequest,
        detail: {
          summary: "Create a chat completion (OpenAI-compatible; `stream: true` for server-sent events)",
          description:
            "Validates model and messages, forwards every other field untouched to the configured upstream, reserves the worst-case cost, and charges the real usage. Errors use the OpenAI envelope: 401 invalid_api_key, 402 insufficient_quota, 404 model_not_found, 429 rate_limit_exceeded, 5xx server_error.",
        },
      },
    );
