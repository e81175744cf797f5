import { z } from "zod";
import { upstreamCopy } from "../chat-request";
import { openaiError, openaiStreamError } from "./openai-shape";
import { parseBody } from "./parse-body";
import type { Dialect } from "./types";
import { lazy } from "../../lib/lazy";

export const TokenizeRequest = lazy(() => z.looseObject({ model: z.string().min(1), text: z.string() }));
export type TokenizeRequestT = z.infer<ReturnType<typeof TokenizeRequest>>;

const NO_USAGE = { prompt: 0, cached: 0, completion: 0, reasoning: 0 };

/**
 * POST /v1/tokenize-text: free (a zero hold, a zero charge) but rate limited like every request
 * and written to the usage log, so nobody can use it to flood the upstream key everyone shares.
 */
export const tokenizeDialect: Dialect<TokenizeRequestT> = {
  endpoint: "tokenize",
  path: "/tokenize-text",
  modelKind: "chat",
  free: true,
  parse(json) {
    return parseBody(TokenizeRequest(), json);
  },
  stream: () => false,
  demand: () => ({ promptUpper: 0, promptEstimate: 0, maxOutput: 0, n: 1, tools: [], images: 0 }),
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
