import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { costMicros, costMicrosBig } from "../src/gateway/providers/usage";

/**
 * Cost is computed with plain numbers while exact (every real request) and BigInt beyond 2^53;
 * the fast path must agree with the BigInt reference to the micro, including at the rounding
 * edges (x·1e6 ± 1) and at sizes where the float division alone would round wrongly.
 */
describe("costMicros", () => {
  const usage = (prompt: number, cached: number, completion: number) => ({ prompt, cached, completion, reasoning: 0 });

  test("agrees with the BigInt reference on random usage and prices of every size", () => {
    const price = fc.oneof(fc.integer({ min: 0, max: 100_000_000 }), fc.integer({ min: 0, max: 2 ** 40 }));
    const tokens = fc.oneof(fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 0, max: 2 ** 31 }));
    fc.assert(
      fc.property(tokens, tokens, tokens, price, price, price, (p, c, o, ip, cp, op) => {
        const u = usage(Math.max(p, c), Math.min(p, c), o);
        const m = { input_price: ip, cached_input_price: cp, output_price: op };
        expect(costMicros(u, m)).toBe(costMicrosBig(u, m));
      }),
      { numRuns: 5_000 },
    );
  });

  test("rounds up exactly at the edges, also near 2^53", () => {
    const m = (output_price: number) => ({ input_price: 0, cached_input_price: 0, output_price });
    for (const scaled of [1, 999_999, 1_000_000, 1_000_001, 2 ** 52 + 1, 2 ** 53 - 1, 9_007_199_254_000_000, 9_007_199_253_999_999, 9_000_000_000_000_001, 4_999_999_999_000_001]) {
      expect(costMicros(usage(0, 0, 1), m(scaled))).toBe(costMicrosBig(usage(0, 0, 1), m(scaled)));
    }
    expect(costMicros(usage(0, 0, 3), m(2 ** 52))).toBe(costMicrosBig(usage(0, 0, 3), m(2 ** 52)));
    expect(costMicros(usage(10, 0, 5), { input_price: 3_000_000, cached_input_price: 750_000, output_price: 15_000_000 })).toBe(105);
  });
});
