import { z } from "zod";

/** What the metered APIs answer, as documented (loose: the upstream's fields pass through). */
const usage = z.looseObject({}).describe("Token usage; cost_in_usd_ticks, when present, is what you were charged (1 USD = 10^10 ticks)");

export const CompletionObject = z.looseObject({
  id: z.string(),
  object: z.literal("text_completion"),
  model: z.string(),
  choices: z.array(z.looseObject({ text: z.string(), index: z.number().int() })),
  usage: usage.optional(),
});

export const ResponseObject = z.looseObject({
  id: z.string().describe("resp_…; readable and deletable by your account only"),
  object: z.literal("response"),
  status: z.string(),
  model: z.string(),
  output: z.array(z.looseObject({ type: z.string() })),
  usage: usage.nullish(),
});

export const MessageObject = z.looseObject({
  id: z.string(),
  type: z.literal("message"),
  role: z.literal("assistant"),
  content: z.array(z.looseObject({ type: z.string() })),
  model: z.string(),
  stop_reason: z.string().nullable(),
  usage: usage,
});

export const ImagesResult = z.looseObject({
  created: z.number().int(),
  data: z.array(z.looseObject({ url: z.string().optional(), b64_json: z.string().optional() })),
});

export const TokenizeResult = z.looseObject({ token_ids: z.array(z.looseObject({})) });

export const ChatCompletionObject = z.looseObject({
  id: z.string(),
  object: z.literal("chat.completion"),
  choices: z.array(z.looseObject({})),
  usage: usage.optional(),
});

export const DeferredStarted = z.object({ request_id: z.string().describe("Fetch the result with GET /v1/chat/deferred-completion/{request_id}") });

export const InputItems = z.looseObject({ object: z.literal("list"), data: z.array(z.looseObject({})) });

export const DeletedResponse = z.looseObject({ id: z.string(), object: z.literal("response"), deleted: z.boolean() });

/** A documented answer: JSON, and for the APIs that stream, server-sent events. */
export function answers(schema: z.ZodType, streams: boolean) {
  const content: Record<string, { schema: Record<string, unknown> }> = { "application/json": { schema: z.toJSONSchema(schema, { io: "output" }) as Record<string, unknown> } };
  if (streams) content["text/event-stream"] = { schema: { type: "string", description: "server-sent events (stream: true)" } };
  return { 200: { description: "The answer (billed from its usage)", content } };
}
