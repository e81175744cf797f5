import { z } from "zod";
import { isBoolean, isNonEmptyString, isObject, isPositiveInt, nullish } from "../../lib/checks";
import { ApiError } from "../../lib/errors";
import { upstreamCopy } from "../chat-request";
import { promptSizes } from "../estimate";
import { fetchesFile } from "./fetched-files";
import { openaiError } from "./openai-shape";
import { ResponsesTap, responsesErrorEvent } from "./responses-tap";
import { responsesAsStream } from "./responses-as-stream";
import { responsesGone } from "./responses-gone";
import { readResponsesUsage, showResponsesUsage } from "./responses-usage";
import { toolCallOf } from "../providers/usage";
import { tally } from "../tap";
import { serverTools } from "./server-tools";
import { responsesOutputText } from "./output-text";
import { checkReferences } from "./responses-refs";
import { itemIds } from "../stored-objects";
import { outputLimit, sendLimit } from "./output-limit";
import { parseBody } from "./parse-body";
import type { Dialect } from "./types";
import { lazy } from "../../lib/lazy";

/** The Responses API's body: what the gateway reads; every other field is forwarded untouched. */
export const ResponsesRequest = lazy(() =>
  z.looseObject({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.unknown())]),
    instructions: z.string().nullish(),
    stream: z.boolean().nullish(),
    store: z.boolean().nullish(),
    previous_response_id: z.string().min(1).nullish(),
    max_output_tokens: z.number().int().positive().nullish(),
    tools: z.array(z.unknown()).nullish(),
  }),
);
export type ResponsesRequestT = z.infer<ReturnType<typeof ResponsesRequest>>;

/** Exactly ResponsesRequest's rule without zod's copy (test/unit-body-checks.test.ts). */
export function isResponsesRequest(v: unknown): v is ResponsesRequestT {
  return (
    isObject(v) &&
    isNonEmptyString(v.model) &&
    (typeof v.input === "string" || Array.isArray(v.input)) &&
    nullish(v.instructions, (x) => typeof x === "string") &&
    nullish(v.stream, isBoolean) &&
    nullish(v.store, isBoolean) &&
    nullish(v.previous_response_id, isNonEmptyString) &&
    nullish(v.max_output_tokens, isPositiveInt) &&
    nullish(v.tools, Array.isArray)
  );
}

type ResponseObject = { id?: unknown; object?: unknown; usage?: Record<string, unknown> | null; store?: unknown; output?: { content?: { type?: string; text?: unknown }[] }[] };

/**
 * Background mode answers "queued" with no usage and the result is read later, for free, with
 * GET /v1/responses/{id}: nothing the gateway could charge, so it is refused before any hold.
 */
const backgroundRefused = (): ApiError =>
  new ApiError(
    400,
    "Background mode (background: true) is not supported through this gateway: stream the response (stream: true) or wait for it.",
    "invalid_request_error",
    "unsupported_parameter",
    "background",
  );

/** POST /v1/responses. */
export const responsesDialect: Dialect<ResponsesRequestT> = {
  endpoint: "responses",
  path: "/responses",
  modelKind: "chat",
  parse(json) {
    const body = isResponsesRequest(json) ? json : parseBody(ResponsesRequest(), json);
    if (body.background === true) throw backgroundRefused();
    return body;
  },
  stream: (body) => body.stream === true,
  prepare: checkReferences,
  storedGone: responsesGone,
  demand: (body, ctx) => {
    const items = typeof body.input === "string" ? [body.input] : body.input;
    // A continued conversation is billed its history again (cached or not), and a referenced item
    // its content: hold for them too (an item of unknown size, or a file the upstream fetches by
    // URL: the largest prompt the model takes).
    const stored = (ctx?.historyTokens ?? 0) + (ctx?.itemTokens ?? 0);
    const prompt = promptSizes(items, [body.instructions, body.tools, body.text]);
    const { limit, param } = outputLimit(body, "max_output_tokens");
    return {
      promptUpper: prompt.promptUpper + stored,
      promptEstimate: prompt.promptEstimate + stored,
      ...(ctx?.unsizedItems || fetchesFile(items) ? { upToContext: true as const } : {}),
      maxOutput: limit,
      maxOutputParam: param,
      n: 1,
      tools: serverTools(body.tools),
    };
  },
  upstreamBody(body, { deployment, plan }) {
    const b = upstreamCopy(body, deployment.upstream_model);
    // An upstream that maps the request onto chat may read a chat limit the client also set.
    sendLimit(b, plan.cappedMaxTokens ?? outputLimit(body, "max_output_tokens").limit, ["max_output_tokens"], "max_output_tokens");
    return JSON.stringify(b);
  },
  whole(json) {
    const r = json as ResponseObject;
    if (r.object !== "response" && !Array.isArray(r.output)) return null;
    const raw = r.usage && typeof r.usage === "object" ? r.usage : null;
    const calls = Array.isArray(r.output) ? r.output.map(toolCallOf) : [];
    const usage = raw ? readResponsesUsage(raw, calls) : null;
    return {
      usage,
      toolCalls: tally(calls.filter((t) => t !== null)),
      // Its output items are stored with it: a later request may name them (item_reference).
      stored: typeof r.id === "string" && r.store !== false ? { id: r.id, items: itemIds(r.output) } : null,
      text: () => responsesOutputText(r.output),
      render(charge) {
        if (raw) showResponsesUsage(raw, usage, () => charge);
        return JSON.stringify(r);
      },
    };
  },
  wholeAsStream: responsesAsStream,
  tap: (ctx) => new ResponsesTap(ctx),
  errorEvent: responsesErrorEvent,
  errorResponse: openaiError,
};
