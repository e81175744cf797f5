import { ChatRequest, isChatRequest, upstreamCopy, type ChatRequestT } from "../chat-request";
import { promptEstimate, promptUpperBound } from "../estimate";
import { fetchesFile } from "./fetched-files";
import { hideCost, readUsage, usageJson, type RawUsage } from "../providers/usage";
import { ChatTap } from "./chat-tap";
import { chatAsStream } from "./chat-as-stream";
import { openaiError, openaiStreamError } from "./openai-shape";
import { serverTools } from "./server-tools";
import { chatOutputText } from "./output-text";
import { parseBody } from "./parse-body";
import { refuseFileIds } from "./file-ids";
import { outputLimit, sendLimit } from "./output-limit";
import type { Dialect } from "./types";

/** Chat's own output limits (max_tokens is the older name; some upstreams still read only it). */
const CHAT_LIMITS = ["max_completion_tokens", "max_tokens"] as const;

type ChatAnswer = { usage?: RawUsage; choices?: { message?: { content?: unknown } }[]; request_id?: unknown };

/** POST /v1/chat/completions. */
export const chatDialect: Dialect<ChatRequestT> = {
  endpoint: "chat.completions",
  path: "/chat/completions",
  modelKind: "chat",
  parse(json) {
    const body = isChatRequest(json) ? json : parseBody(ChatRequest(), json);
    refuseFileIds(body.messages, "messages");
    return body;
  },
  stream: (body) => body.stream === true,
  clientWantsUsage: (body) => body.stream_options?.include_usage === true,
  demand: (body) => {
    const { limit, param } = outputLimit(body, "max_tokens");
    return {
      promptUpper: promptUpperBound(body),
      promptEstimate: promptEstimate(body),
      // A file by URL is billed as what the upstream fetched: up to the largest prompt.
      ...(fetchesFile(body.messages) ? { upToContext: true as const } : {}),
      maxOutput: limit,
      maxOutputParam: param,
      n: body.n ?? 1,
      tools: serverTools(body.tools, body.search_parameters),
    };
  },
  upstreamBody(body, { deployment, adapter, plan, stream }) {
    const b = upstreamCopy(body, deployment.upstream_model);
    // The limit the hold covers, in every limit field: an upstream may obey either of the two.
    sendLimit(b, plan.cappedMaxTokens ?? outputLimit(body, "max_tokens").limit, CHAT_LIMITS, adapter.maxTokensField);
    // Always ask for usage: without it a stream would be billed as an estimate.
    if (stream) b.stream_options = { ...body.stream_options, include_usage: true };
    return JSON.stringify(b);
  },
  whole(json, adapter, body) {
    const answer = json as ChatAnswer;
    // `deferred: true`, and only then, is answered with the upstream's request id: the result comes later.
    const deferred = body.deferred === true && !answer.choices && typeof answer.request_id === "string" ? answer.request_id : null;
    if (!deferred && !Array.isArray(answer.choices)) return null;
    const raw = answer.usage && typeof answer.usage === "object" ? answer.usage : null;
    const usage = raw ? readUsage(raw, adapter.reasoningIsExtra) : null;
    return {
      usage,
      deferred,
      text: () => chatOutputText(answer.choices),
      render(charge) {
        if (raw && usage) answer.usage = usageJson(raw, usage, charge);
        else if (raw) hideCost(raw, charge);
        return JSON.stringify(answer);
      },
    };
  },
  wholeAsStream: chatAsStream,
  tap: (ctx) => new ChatTap(ctx),
  errorEvent: openaiStreamError,
  errorResponse: openaiError,
};

