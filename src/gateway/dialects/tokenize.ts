import { z } from "zod";
import { upstreamCopy } from "../chat-request";
import { estimateTokens } from "../estimate";
import { openaiError, openaiStreamError } from "./openai-shape";
import { parseBody } from "./parse-body";
import type { Dialect } from "./types";
import { lazy } from "../../lib/lazy";

/**
 * The longest text tokenized in one request (UTF-8 bytes). The tokenizer answers an object per
 * token, about 30 times the text: 1 MiB of text is already some 30 MB of answer, and about
 * 260,000 tokens of English, more than most models' context. Longer texts are counted in parts.
 */
export const MAX_TOKENIZE_TEXT_BYTES = 1024 * 1024;

const withinBound = (s: string) => s.length <= MAX_TOKENIZE_TEXT_BYTES / 3 || Buffer.byteLength(s) <= MAX_TOKENIZE_TEXT_BYTES;

export const TokenizeRequest = lazy(() =>
  z.looseObject({
    model: z.string().min(1),
    text: z.string().refine(withinBound, `text is longer than ${MAX_TOKENIZE_TEXT_BYTES} bytes (UTF-8): tokenize it in parts.`),
  }),
);
export type TokenizeRequestT = z.infer<ReturnType<typeof TokenizeRequest>>;

const NO_USAGE = { prompt: 0, cached: 0, completion: 0, reasoning: 0 };

/**
 * POST /v1/tokenize-text: free (a zero hold, a zero charge) but rate limited like every request,
 * its text's estimate taken from the key's tokens per minute, and written to the usage log, so
 * nobody can use it to flood the upstream key everyone shares or the gateway's memory.
 */
export const tokenizeDialect: Dialect<TokenizeRequestT> = {
  endpoint: "tokenize",
  path: "/tokenize-text",
  modelKind: "chat",
  free: true,
  verbatim: true,
  parse(json) {
    return parseBody(TokenizeRequest(), json);
  },
  stream: () => false,
  // Nothing held (promptUpper 0: a zero hold), but the text's tokens count against the key's TPM.
  demand: (body) => ({ promptUpper: 0, promptEstimate: estimateTokens(body.text), maxOutput: 0, n: 1, tools: [] }),
  upstreamBody(body, { deployment }) {
    return JSON.stringify(upstreamCopy(body, deployment.upstream_model));
  },
  whole: (json) => ({ usage: NO_USAGE, text: () => "", render: () => JSON.stringify(json) }),
  tap: () => {
    throw new Error("tokenize-text does not stream");
  },
  errorEvent: openaiStreamError,
  errorResponse: openaiError,
};
