import { z } from "zod";
import { upstreamCopy } from "../chat-request";
import { estimateTokens, promptSizes } from "../estimate";
import { hideCost, readUsage, usageJson, type RawUsage } from "../providers/usage";
import { deltaTokens } from "../tap";
import { ChatTap, type ChatChunk } from "./chat-tap";
import { completionsAsStream } from "./chat-as-stream";
import { openaiError, openaiStreamError } from "./openai-shape";
import { outputLimit, sendLimit } from "./output-limit";
import { parseBody } from "./parse-body";
import type { Dialect } from "./types";
import { lazy } from "../../lib/lazy";

/** The legacy completions API: a prompt (string, strings, or token arrays) instead of messages. */
export const CompletionRequest = lazy(() =>
  z.looseObject({
    model: z.string().min(1),
    prompt: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))]),
    stream: z.boolean().nullish(),
    stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
    max_tokens: z.number().int().positive().nullish(),
    n: z.number().int().min(1).max(128).nullish(),
    best_of: z.number().int().min(1).max(128).nullish(),
    suffix: z.string().nullish(),
  }),
);
export type CompletionRequestT = z.infer<ReturnType<typeof CompletionRequest>>;

/** OpenAI's default output limit of the legacy API. */
const DEFAULT_MAX_TOKENS = 16;

/** Prompts in a request: a string or one token array is one; a list of either is a batch. */
function promptCount(prompt: CompletionRequestT["prompt"]): number {
  if (typeof prompt === "string" || prompt.length === 0 || typeof prompt[0] === "number") return 1;
  return prompt.length;
}

/**
 * Token ids of a prompt given as ids (one list, or a batch of lists), null for text. They are
 * tokens already; the estimate's character rule counts no number, so a prompt of ids is
 * estimated by its count instead.
 */
function tokenIds(prompt: CompletionRequestT["prompt"]): number | null {
  if (typeof prompt === "string" || prompt.length === 0 || typeof prompt[0] === "string") return null;
  if (typeof prompt[0] === "number") return prompt.length;
  let ids = 0;
  for (const p of prompt as number[][]) ids += p.length;
  return ids;
}

/** Tokens a legacy chunk delivered: its choices' text. */
function textTokens(c: ChatChunk): number {
  let n = 0;
  for (const ch of (c.choices ?? []) as { text?: unknown }[]) if (typeof ch.text === "string") n += deltaTokens(ch.text);
  return n;
}

/** POST /v1/completions. */
export const completionsDialect: Dialect<CompletionRequestT> = {
  endpoint: "completions",
  path: "/completions",
  modelKind: "chat",
  parse(json) {
    return parseBody(CompletionRequest(), json);
  },
  stream: (body) => body.stream === true,
  clientWantsUsage: (body) => body.stream_options?.include_usage === true,
  demand: (body) => {
    const prompts = Array.isArray(body.prompt) ? body.prompt : [body.prompt];
    // The suffix goes with every prompt of a batch, and the model reads it with each.
    const suffixes = body.suffix ? new Array<string>(promptCount(body.prompt)).fill(body.suffix) : [];
    const { promptUpper, promptEstimate } = promptSizes(prompts, suffixes);
    const ids = tokenIds(body.prompt);
    const { limit, param } = outputLimit(body, "max_tokens");
    return {
      promptUpper,
      promptEstimate: ids === null ? promptEstimate : ids + 4 * promptCount(body.prompt) + estimateTokens(suffixes.join("")),
      maxOutput: limit ?? DEFAULT_MAX_TOKENS,
      maxOutputParam: param,
      // Each prompt of a batch gets its own choices; best_of candidates are all generated (and billed).
      n: Math.max(body.n ?? 1, body.best_of ?? 1) * promptCount(body.prompt),
      tools: [],
    };
  },
  upstreamBody(body, { deployment, stream }) {
    const b = upstreamCopy(body, deployment.upstream_model);
    // Always sent: the hold assumed the default, and an upstream's own may be larger (llama.cpp: unlimited).
    sendLimit(b, outputLimit(body, "max_tokens").limit ?? DEFAULT_MAX_TOKENS, ["max_tokens"], "max_tokens");
    if (stream) b.stream_options = { ...body.stream_options, include_usage: true };
    return JSON.stringify(b);
  },
  whole(json, adapter) {
    const answer = json as { usage?: RawUsage; choices?: { text?: unknown }[] };
    if (!Array.isArray(answer.choices)) return null;
    const raw = answer.usage && typeof answer.usage === "object" ? answer.usage : null;
    const usage = raw ? readUsage(raw, adapter.reasoningIsExtra) : null;
    return {
      usage,
      text: () => answer.choices!.map((c) => (typeof c.text === "string" ? c.text : "")).join(""),
      render(charge) {
        if (raw && usage) answer.usage = usageJson(raw, usage, charge);
        else if (raw) hideCost(raw, charge);
        return JSON.stringify(answer);
      },
    };
  },
  wholeAsStream: completionsAsStream,
  tap: (ctx) => new ChatTap(ctx, textTokens),
  errorEvent: openaiStreamError,
  errorResponse: openaiError,
};
