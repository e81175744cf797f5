import { z } from "zod";
import { isBoolean, isMessageList, isNonEmptyString, isObject, isPositiveInt, nullish } from "../lib/checks";
import { lazy } from "../lib/lazy";

/**
 * Only what the gateway needs is validated; every other field is forwarded untouched
 * (a strict schema that drops unknown fields breaks clients silently).
 */
export const ChatRequest = lazy(() =>
  z.looseObject({
    model: z.string().min(1),
    messages: z.array(z.looseObject({ role: z.string().min(1) })).min(1),
    stream: z.boolean().nullish(),
    stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
    max_tokens: z.number().int().positive().nullish(),
    max_completion_tokens: z.number().int().positive().nullish(),
    n: z.number().int().min(1).max(128).nullish(),
  }),
);

export type ChatRequestT = z.infer<ReturnType<typeof ChatRequest>>;

/**
 * Exactly ChatRequest's rule, without zod's copy of the body: the hot path checks with this and
 * asks zod only for the error of a body that fails (test/unit-body-checks.test.ts proves them equal).
 */
export function isChatRequest(v: unknown): v is ChatRequestT {
  return (
    isObject(v) &&
    isNonEmptyString(v.model) &&
    isMessageList(v.messages) &&
    nullish(v.stream, isBoolean) &&
    nullish(v.stream_options, (x) => isObject(x) && nullish(x.include_usage, isBoolean)) &&
    nullish(v.max_tokens, isPositiveInt) &&
    nullish(v.max_completion_tokens, isPositiveInt) &&
    nullish(v.n, (x) => Number.isSafeInteger(x) && (x as number) >= 1 && (x as number) <= 128)
  );
}

/** Fields some gateways honour to pick an upstream (SSRF). The upstream comes from configuration only. */
export const STRIPPED_FIELDS = ["api_key", "api_base", "base_url", "extra_headers", "custom_llm_provider", "api_version"];

/** The client's body as the upstream gets it: its own model id swapped in, STRIPPED_FIELDS gone (a copy). */
export function upstreamCopy(body: object, upstreamModel: string): Record<string, unknown> {
  const b: Record<string, unknown> = { ...body, model: upstreamModel };
  for (const f of STRIPPED_FIELDS) delete b[f];
  return b;
}
