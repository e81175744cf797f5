/** The hot path's check of a chat body accepts exactly what the zod schema accepts. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { ChatRequest, isChatRequest } from "../src/gateway/chat-request";

const anyValue = fc.oneof(
  fc.constant(undefined), fc.constant(null), fc.boolean(), fc.string({ maxLength: 3 }), fc.constant(""),
  fc.integer({ min: -3, max: 200 }), fc.double(), fc.constant(2 ** 60), fc.constant(1.5), fc.constant([]), fc.constant({}),
);
/** Mostly `good`, sometimes anything: enough valid bodies to compare acceptance too. */
const mostly = <T,>(good: fc.Arbitrary<T>) => fc.oneof({ arbitrary: good, weight: 6 }, { arbitrary: anyValue, weight: 1 });
const message = mostly(fc.record({ role: mostly(fc.constantFrom("user", "system")), content: fc.string() }, { requiredKeys: ["role"] }));
const body = fc.record(
  {
    model: mostly(fc.constant("grok-4")),
    messages: mostly(fc.array(message, { maxLength: 3 })),
    stream: mostly(fc.boolean()),
    stream_options: mostly(fc.record({ include_usage: mostly(fc.boolean()) }, { requiredKeys: [] })),
    max_tokens: mostly(fc.integer({ min: 1, max: 4096 })),
    max_completion_tokens: mostly(fc.integer({ min: 1, max: 4096 })),
    n: mostly(fc.integer({ min: -1, max: 130 })),
    temperature: anyValue,
  },
  { requiredKeys: ["model", "messages"] },
);

test("isChatRequest agrees with ChatRequest.safeParse on every body", () => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.oneof({ arbitrary: body, weight: 8 }, { arbitrary: anyValue, weight: 1 }, { arbitrary: fc.array(anyValue), weight: 1 }), (b) => {
      const zod = ChatRequest.safeParse(b).success;
      expect(isChatRequest(b)).toBe(zod);
      if (zod) accepted++;
    }),
    { numRuns: 20_000 },
  );
  expect(accepted).toBeGreaterThan(1_000);
});
