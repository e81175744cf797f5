/**
 * A request without max_tokens that the balance cannot hold at the model's max output is sent with
 * max_tokens capped to what the balance covers (refused only below 16 tokens). The cap is the
 * largest the balance covers under the model's own prices: a markup on the whole cost (cost_plus)
 * and long-context prices included, so such a customer is served, not refused.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Model } from "../src/config/load";
import fc from "fast-check";
import { MIN_CAPPED_OUTPUT, planHold } from "../src/gateway/hold";
import { holdFor } from "../src/money/pricing";
import { fakeCatalogue, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";

let up: MockUpstream;
let g: Gateway;
beforeAll(async () => {
  up = startFakeUpstream();
  const cat = fakeCatalogue(up.url);
  cat.models.push({
    id: "long", provider: "fake", input_price: 3, cached_input_price: 0.75, output_price: 15, max_output_tokens: 4000,
    long_context: { above_tokens: 100, input_price: 6, output_price: 30 },
  } as never);
  g = await startGateway({ upstream: up, config: { ...cat } });
});
afterAll(async () => {
  await g.stop();
  await up.stop();
});

const prompt = "x".repeat(1000);
const post = (key: string, body: Record<string, unknown>) =>
  fetch(`${g.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: prompt }], mock: { completion_tokens: 3, prompt_tokens: 250 }, ...body }),
  });

for (const [model, balance] of [["grok-4-plus", 10_000], ["long", 40_000], ["grok-4", 10_000]] as const) {
  test(`${model}: capped to the most output the balance holds, and served`, async () => {
    const c = await g.customer(balance);
    const res = await post(c.key, { model });
    expect(res.status, await res.text()).toBe(200);
    const capped = up.requests.at(-1)!.body.max_tokens as number;
    expect(capped).toBeGreaterThanOrEqual(16);
    expect(await g.balance(c.accountId)).toBeLessThan(balance);
  });
}

test("the cap is the largest output whose hold the amount covers, for any amount (markup, long context, n)", () => {
  const models = g.runtime.deps.config.models.filter((m) => ["grok-4-plus", "long", "grok-4"].includes(m.id)) as Model[];
  const spendable = (amount: number) => ({ amount, refuse: () => new Error("refused") as never });
  fc.assert(
    fc.property(fc.constantFrom(...models), fc.integer({ min: 1, max: 200_000 }), fc.integer({ min: 1, max: 3_000 }), fc.integer({ min: 1, max: 3 }), (m, amount, promptUpper, n) => {
      const d = { promptUpper, promptEstimate: promptUpper, maxOutput: null, n, tools: [] };
      const worst = (out: number) => holdFor({ prompt: promptUpper, cached: 0, completion: out * n, reasoning: 0 }, m);
      let plan;
      try {
        plan = planHold(m, d, spendable(amount));
      } catch {
        // Refused: not even 16 tokens fit.
        return worst(MIN_CAPPED_OUTPUT) > amount;
      }
      if (plan.cappedMaxTokens === null) return worst(m.max_output_tokens) <= amount;
      const c = plan.cappedMaxTokens;
      return plan.hold === worst(c) && worst(c) <= amount && worst(c + 1) > amount && c >= MIN_CAPPED_OUTPUT;
    }),
    { numRuns: 2_000 },
  );
});
