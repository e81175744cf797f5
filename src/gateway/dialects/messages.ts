import { z } from "zod";
import { isBoolean, isMessageList, isNonEmptyString, isObject, isPositiveInt, nullish } from "../../lib/checks";
import { upstreamCopy } from "../chat-request";
import { promptSizes } from "../estimate";
import { fetchesFile } from "./fetched-files";
import { hideCost, withToolCalls } from "../providers/usage";
import { tally } from "../tap";
import { messageToolRuns } from "./messages-tools";
import { anthropicError, anthropicStreamError } from "./anthropic-shape";
import { MessagesTap, readMessagesUsage } from "./messages-tap";
import { messagesAsStream } from "./messages-as-stream";
import { anthropicServerTools } from "./server-tools";
import { messagesOutputText } from "./output-text";
import { outputLimit, sendLimit } from "./output-limit";
import { parseBody } from "./parse-body";
import { refuseUnownedMessages } from "./messages-refs";
import type { Dialect } from "./types";
import { lazy } from "../../lib/lazy";

/** Anthropic's Messages body: what the gateway reads (max_tokens is required there too). */
export const MessagesRequest = lazy(() =>
  z.looseObject({
    model: z.string().min(1),
    max_tokens: z.number().int().positive(),
    messages: z.array(z.looseObject({ role: z.string().min(1) })).min(1),
    system: z.union([z.string(), z.array(z.unknown())]).nullish(),
    stream: z.boolean().nullish(),
    tools: z.array(z.unknown()).nullish(),
  }),
);
export type MessagesRequestT = z.infer<ReturnType<typeof MessagesRequest>>;

/** Exactly MessagesRequest's rule without zod's copy (test/unit-body-checks.test.ts). */
export function isMessagesRequest(v: unknown): v is MessagesRequestT {
  return (
    isObject(v) &&
    isNonEmptyString(v.model) &&
    isPositiveInt(v.max_tokens) &&
    isMessageList(v.messages) &&
    nullish(v.system, (x) => typeof x === "string" || Array.isArray(x)) &&
    nullish(v.stream, isBoolean) &&
    nullish(v.tools, Array.isArray)
  );
}

type Message = { type?: unknown; usage?: Record<string, unknown> | null; content?: { type?: string; text?: unknown }[] };

/** POST /v1/messages (Anthropic's Messages API, as xAI serves it). */
export const messagesDialect: Dialect<MessagesRequestT> = {
  endpoint: "messages",
  path: "/messages",
  modelKind: "chat",
  forwardHeaders: ["anthropic-version", "anthropic-beta"],
  requestIdHeader: "request-id",
  parse(json) {
    const body = isMessagesRequest(json) ? json : parseBody(MessagesRequest(), json);
    refuseUnownedMessages(body);
    return body;
  },
  stream: (body) => body.stream === true,
  demand: (body) => {
    const { limit, param } = outputLimit(body, "max_tokens");
    return {
      ...promptSizes(body.messages, [body.system, body.tools]),
      // A document by URL is billed as what the upstream fetched: up to the largest prompt.
      ...(fetchesFile(body.messages, body.system) ? { upToContext: true as const } : {}),
      maxOutput: limit,
      maxOutputParam: param,
      n: 1,
      tools: anthropicServerTools(body.tools),
    };
  },
  upstreamBody(body, { deployment }) {
    const b = upstreamCopy(body, deployment.upstream_model);
    // An upstream that maps Messages onto chat may read another limit field the client set.
    sendLimit(b, outputLimit(body, "max_tokens").limit, ["max_tokens"], "max_tokens");
    return JSON.stringify(b);
  },
  whole(json) {
    const m = json as Message;
    if (m.type !== "message" && !Array.isArray(m.content)) return null;
    const raw = m.usage && typeof m.usage === "object" ? m.usage : null;
    const ran = messageToolRuns(m.content);
    return {
      // An upstream whose usage counts no server tool calls is charged the ones the blocks show run.
      usage: raw ? withToolCalls(readMessagesUsage(raw), raw, ran) : null,
      toolCalls: tally(ran),
      text: () => messagesOutputText(m.content),
      render(charge) {
        if (raw) hideCost(raw, charge);
        return JSON.stringify(m);
      },
    };
  },
  wholeAsStream: messagesAsStream,
  tap: (ctx) => new MessagesTap(ctx),
  errorEvent: anthropicStreamError,
  errorResponse: anthropicError,
};
