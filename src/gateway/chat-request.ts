import { z } from "zod";

/**
 * Only what the gateway needs is validated; every other field is forwarded untouched
 * (a strict schema that drops unknown fields breaks clients silently).
 */
export const ChatRequest = z.looseObject({
  model: z.string().min(1),
  messages: z.array(z.looseObject({ role: z.string().min(1) })).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  n: z.number().int().min(1).max(128).nullish(),
});

export type ChatRequestT = z.infer<typeof ChatRequest>;

/** Fields some gateways honour to pick an upstream (SSRF). The upstream comes from configuration only. */
export const STRIPPED_FIELDS = ["api_key", "api_base", "base_url", "extra_headers", "custom_llm_provider", "api_version"];
