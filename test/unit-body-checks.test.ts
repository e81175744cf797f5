/** The hot path's body checks accept exactly what each API's zod schema accepts. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import type { z } from "zod";
import { ChatRequest, isChatRequest } from "../src/gateway/chat-request";
import { isMessagesRequest, MessagesRequest } from "../src/gateway/dialects/messages";
import { isResponsesRequest, ResponsesRequest } from "../src/gateway/dialects/responses";

const anyValue = fc.oneof(
  fc.constant(undefined), fc.constant(null), fc.boolean(), fc.string({ maxLength: 3 }), fc.constant(""),
  fc.integer({ min: -3, max: 200 }), fc.double(), fc.constant(2 ** 60), fc.constant(1.5), fc.constant([]), fc.constant({}),
);
/** Mostly `good`, sometimes anything: enough valid bodies to compare acceptance too. */
const mostly = <T,>(good: fc.Arbitrary<T>) => fc.oneof({ arbitrary: good, weight: 6 }, { arbitrary: anyValue, weight: 1 });
const message = mostly(fc.record({ role: mostly(fc.constantFrom("user", "system")), content: fc.string() }, { requiredKeys: ["role"] }));
const tokens = mostly(fc.integer({ min: 1, max: 4096 }));
const chat = fc.record(
  {
    model: mostly(fc.constant("grok-4")),
    messages: mostly(fc.array(message, { maxLength: 3 })),
    stream: mostly(fc.boolean()),
    stream_options: mostly(fc.record({ include_usage: mostly(fc.boolean()) }, { requiredKeys: [] })),
    max_tokens: tokens,
    max_completion_tokens: tokens,
    n: mostly(fc.integer({ min: -1, max: 130 })),
    temperature: anyValue,
  },
  { requiredKeys: ["model", "messages"] },
);
const responses = fc.record(
  {
    model: mostly(fc.constant("grok-4")),
    input: mostly(fc.oneof(fc.string(), fc.array(anyValue, { maxLength: 2 }))),
    instructions: mostly(fc.string()),
    stream: mostly(fc.boolean()),
    store: mostly(fc.boolean()),
    previous_response_id: mostly(fc.constantFrom("resp_1", "")),
    max_output_tokens: tokens,
    tools: mostly(fc.array(anyValue, { maxLength: 2 })),
  },
  { requiredKeys: ["model", "input"] },
);
const messages = fc.record(
  {
    model: mostly(fc.constant("grok-4")),
    max_tokens: tokens,
    messages: mostly(fc.array(message, { maxLength: 3 })),
    system: mostly(fc.oneof(fc.string(), fc.array(anyValue, { maxLength: 2 }))),
    stream: mostly(fc.boolean()),
    tools: mostly(fc.array(anyValue, { maxLength: 2 })),
  },
  { requiredKeys: ["model", "max_tokens", "messages"] },
);

const cases: [string, fc.Arbitrary<unknown>, z.ZodType, (v: unknown) => boolean][] = [
  ["chat completions", chat, ChatRequest(), isChatRequest],
  ["responses", responses, ResponsesRequest(), isResponsesRequest],
  ["messages", messages, MessagesRequest(), isMessagesRequest],
];

for (const [name, body, schema, check] of cases) {
  test(`${name}: the plain check agrees with the zod schema on every body`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof({ arbitrary: body, weight: 8 }, { arbitrary: anyValue, weight: 1 }, { arbitrary: fc.array(anyValue), weight: 1 }), (b) => {
        const zod = schema.safeParse(b).success;
        expect(check(b)).toBe(zod);
        if (zod) accepted++;
      }),
      { numRuns: 20_000 },
    );
    expect(accepted).toBeGreaterThan(1_000);
  });
}
