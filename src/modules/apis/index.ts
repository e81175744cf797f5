import { Elysia } from "elysia";
import { z } from "zod";
import { CompletionRequest } from "../../gateway/dialects/completions";
import { ImagesRequest } from "../../gateway/dialects/images";
import { MessagesRequest } from "../../gateway/dialects/messages";
import { ResponsesRequest } from "../../gateway/dialects/responses";
import { TokenizeRequest } from "../../gateway/dialects/tokenize";
import { METERED_APIS } from "../../gateway/apis";
import { gatewayRoute } from "../../gateway/route";
import type { ModuleDeps } from "../../runtime/module-deps";
import { errorAnswers, meteredErrors } from "./error-answers";
import { answers, CompletionObject, ImagesResult, MessageObject, ResponseObject, TokenizeResult } from "./model";

const DOCS: Record<string, { summary: string; description: string; schema: z.ZodType; answer: z.ZodType; streams: boolean }> = {
  "/v1/completions": {
    summary: "Create a completion (legacy OpenAI API; `stream: true` for server-sent events)",
    description: "Billed like chat: prompt and output tokens at the model's prices; the hold covers max_tokens (16 by default) for every choice.",
    schema: CompletionRequest(),
    answer: CompletionObject,
    streams: true,
  },
  "/v1/responses": {
    summary: "Create a model response (OpenAI Responses API; `stream: true` for named server-sent events)",
    description:
      "Billed from the final usage (input, cached input, output with reasoning) plus server-side tool calls; a continuation (previous_response_id) must name one of your own stored responses (404 otherwise) and is held for its history too. Background mode (`background: true`) is not supported: 400 with param `background` and code `unsupported_parameter`; stream the response or wait for it. Ids of objects no customer owns here are refused alike (400 `unsupported_parameter`): `conversation`, a tool's `container` id, a stored `prompt`, and file ids in input content (send the file's content instead).",
    schema: ResponsesRequest(),
    answer: ResponseObject,
    streams: true,
  },
  "/v1/messages": {
    summary: "Create a message (Anthropic Messages API; x-api-key or Bearer; errors in Anthropic's envelope)",
    description:
      "Billed from input_tokens + cache reads (at the cached price) + cache writes, and output_tokens. Errors: 402 billing_error, 429 rate_limit_error with retry-after, 529 overloaded_error when the upstream is unavailable or overloaded; a file source by `file_id` is a 400 invalid_request_error (send the file's content), and so is a `container` named by id (a string or `{id}`: leave it out or give it without an id for a new one) or a custom skill in `container.skills` (only Anthropic's own, type `anthropic`).",
    schema: MessagesRequest(),
    answer: MessageObject,
    streams: true,
  },
  "/v1/images/generations": {
    summary: "Generate images (priced per image)",
    description: "n images at the model's image price (or the upstream's cost plus markup).",
    schema: ImagesRequest(),
    answer: ImagesResult,
    streams: false,
  },
  "/v1/images/edits": {
    summary: "Edit images (JSON: the source image as a URL or data URI; priced per image, source images included)",
    description: "Billed for the images generated and the source images, as the upstream bills edits. The source image may come in `image_url`, `mask` or `images` instead of `image`: one of them is required (400 with param `image` otherwise).",
    schema: ImagesRequest().extend({
      image: z.union([z.string(), z.array(z.string())]).describe("The source image(s): URLs or data URIs (or give them in image_url, mask or images)"),
    }),
    answer: ImagesResult,
    streams: false,
  },
  "/v1/tokenize-text": {
    summary: "Tokenize text (free, rate limited)",
    description: "Never charged; counts against the key's request limits.",
    schema: TokenizeRequest(),
    answer: TokenizeResult,
    streams: false,
  },
};

/**
 * The documented face of the metered APIs other than chat (modules/chat documents that one). In
 * the server Bun's router sends them straight to their gateway route; through app.handle they
 * arrive here and get the same function (`parse: "none"`: the gateway reads and limits the body).
 */
export const apisModule = (deps: ModuleDeps) => {
  let app = new Elysia({ tags: ["customer"] });
  for (const { path, dialect } of METERED_APIS) {
    const doc = DOCS[path];
    if (!doc) continue;
    const handle = gatewayRoute(deps, dialect);
    app = app.post(path, ({ request, set }) => handle(request, String(set.headers["x-request-id"])), {
      parse: "none",
      detail: {
        summary: doc.summary,
        description: doc.description,
        requestBody: { required: true, content: { "application/json": { schema: z.toJSONSchema(doc.schema, { io: "input" }) as Record<string, unknown> } } },
        responses: { ...answers(doc.answer, doc.streams), ...errorAnswers(meteredErrors({ free: dialect.free, anthropic: path === "/v1/messages" })) },
      },
    }) as unknown as typeof app;
  }
  return app;
};
