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

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const optional = (v: unknown, ok: (v: unknown) => boolean) => v === undefined || v === null || ok(v);
const positiveInt = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;

/**
 * Exactly ChatRequest's rule, without zod's copy of the body: the hot path checks with this and
 * asks zod only for the error of a body that fails (test/unit-chat-request.test.ts proves them equal).
 */
export function isChatRequest(v: unknown): v is ChatRequestT {
  if (!isObject(v)) return false;
  if (typeof v.model !== "string" || v.model.length === 0) return false;
  const messages = v.messages;
  if (!Array.isArray(messages) || messages.length === 0) return false;
  for (const m of messages) if (!isObject(m) || typeof m.role !== "string" || m.role.length === 0) return false;
  if (!optional(v.stream, (x) => typeof x === "boolean")) return false;
  if (!optional(v.stream_options, (x) => isObject(x) && optional(x.include_usage, (y) => typeof y === "boolean"))) return false;
  if (!optional(v.max_tokens, positiveInt) || !optional(v.max_completion_tokens, positiveInt)) return false;
  return optional(v.n, (x) => Number.isSafeInteger(x) && (x as number) >= 1 && (x as number) <= 128);
}

/** Fields some gateways honour to pick an upstream (SSRF). The upstream comes from configuration only. */
export const STRIPPED_FIELDS = ["api_key", "api_base", "base_url", "extra_headers", "custom_llm_provider", "api_version"];
