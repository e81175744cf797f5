/**
 * Pricing rules, as properties over random usages (exact rounding, the long-context boundary,
 * the markup) and end to end: a long prompt on chat, Responses and Messages is charged every
 * token at the long-context prices; the same prompt one token shorter at the base prices.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DEFAULT_TOOL_PRICES, type Tool } from "../src/config/schema";
import type { Model } from "../src/config/load";
import { chargeFor, holdFor, listCost, pricesFor, withMarkup } from "../src/money/pricing";
import type { Usage } from "../src/money/usage";
import { fakeCatalogue, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";

const BASE = { input_price: 3_000_000, cached_input_price: 750_000, output_price: 15_000_000 };
const LONG = { above_tokens: 1_000, input_price: 6_000_000, cached_input_price: 1_500_000, output_price: 30_000_000 };
const model = (extra: Partial<Model> = {}) =>
  ({ id: "m", ...BASE, image_price: 200_000_000, tool_prices: DEFAULT_TOOL_PRICES, pricing: "list", markup_percent: 0, long_context: LONG, ...extra }) as unknown as Model;

const usage = fc
  .record({
    prompt: fc.nat(5_000_000),
    cachedShare: fc.double({ min: 0, max: 1, noNaN: true }),
    completion: fc.nat(1_000_000),
    images: fc.nat(10),
    web: fc.nat(50),
    attachments: fc.nat(50),
  })
  .map(({ prompt, cachedShare, completion, images, web, attachments }): Usage => ({
    prompt,
    cached: Math.floor(prompt * cachedShare),
    completion,
    reasoning: 0,
    images,
    tools: { web_search: web, attachment_search: attachments } as Partial<Record<Tool, number>>,
  }));

/** The exact price in 1e-12 USD (micros × 1e6), computed independently as a rational number. */
function exactPico(u: Usage, p: { input_price: number; cached_input_price: number; output_price: number }, m: Model): bigint {
  const tokens = BigInt(u.prompt - u.cached) * BigInt(p.input_price) + BigInt(u.cached) * BigInt(p.cached_input_price) + BigInt(u.completion) * BigInt(p.output_price);
  const tools = Object.entries(u.tools ?? {}).reduce((s, [t, c]) => s + (BigInt(c ?? 0) * BigInt(m.tool_prices[t as Tool]) * 1_000_000n) / 1000n, 0n);
  return tokens + tools + BigInt(u.images ?? 0) * BigInt(m.image_price) * 1_000_000n;
}

describe("pricing properties", () => {
  test("a list charge is the exact price rounded up once, never down, never a micro too much", () => {
    fc.assert(
      fc.property(usage, (u) => {
        const m = model();
        const p = u.prompt > LONG.above_tokens ? LONG : BASE;
        const exact = exactPico(u, p, m);
        const charged = BigInt(chargeFor(u, m)) * 1_000_000n;
        expect(charged >= exact).toBe(true);
        expect(charged - exact < 1_000_000n).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  test("long-context prices start strictly above the threshold and apply to every token", () => {
    const m = model();
    expect(pricesFor(LONG.above_tokens, m).input_price).toBe(BASE.input_price);
    expect(pricesFor(LONG.above_tokens + 1, m).input_price).toBe(LONG.input_price);
    const at = (prompt: number) => chargeFor({ prompt, cached: 0, completion: 100, reasoning: 0 }, m);
    expect(at(1_000)).toBe(1_000 * 3 + 100 * 15);
    expect(at(1_001)).toBe(1_001 * 6 + 100 * 30);
  });

  test("cost_plus: the reported cost with the markup, rounded up; list prices without one; holds carry the markup", () => {
    fc.assert(
      fc.property(usage, fc.nat(10_000_000), fc.integer({ min: 0, max: 100_000 }), (u, cost, hundredths) => {
        const markup = hundredths / 100;
        const m = model({ pricing: "cost_plus", markup_percent: markup });
        const exact = BigInt(cost) * BigInt(10_000 + hundredths);
        const charged = BigInt(chargeFor({ ...u, upstreamCost: cost }, m)) * 10_000n;
        expect(charged >= exact && charged - exact < 10_000n).toBe(true);
        expect(chargeFor(u, m)).toBe(listCost(u, pricesFor(u.prompt, m)));
        expect(holdFor(u, m)).toBe(withMarkup(listCost(u, pricesFor(u.prompt, m)), markup));
      }),
      { numRuns: 1_000 },
    );
  });
});

describe("long context end to end", () => {
  let upstream: MockUpstream;
  let gw: Gateway;
  beforeAll(async () => {
    upstream = startFakeUpstream();
    const cat = fakeCatalogue(upstream.url);
    const long = { id: "grok-long", provider: "fake", input_price: 3, cached_input_price: 0.75, output_price: 15, max_output_tokens: 1000, long_context: { above_tokens: 1000, input_price: 6, cached_input_price: 1.5, output_price: 30 } };
    gw = await startGateway({ upstream, config: { ...cat, models: [...cat.models, long] } });
  });
  afterAll(() => gw?.stop());

  const calls: [string, (prompt: number) => Record<string, unknown>, Record<string, string>][] = [
    ["/v1/chat/completions", (p) => ({ model: "grok-long", messages: [{ role: "user", content: "hi" }], max_tokens: 50, mock: { prompt_tokens: p, completion_tokens: 20 } }), {}],
    ["/v1/responses", (p) => ({ model: "grok-long", input: "hi", max_output_tokens: 50, mock: { prompt_tokens: p, completion_tokens: 20 } }), {}],
    ["/v1/messages", (p) => ({ model: "grok-long", max_tokens: 50, messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: p, completion_tokens: 20 } }), { "anthropic-version": "2023-06-01" }],
  ];

  for (const [path, body, headers] of calls) {
    test(`${path}: 1,001 prompt tokens at the long prices, 1,000 at the base prices`, async () => {
      const c = await gw.customer(10_000_000);
      for (const [prompt, expected] of [[1_000, 1_000 * 3 + 20 * 15], [1_001, 1_001 * 6 + 20 * 30]] as const) {
        const before = await gw.balance(c.accountId);
        const res = await fetch(`${gw.url}${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json", ...headers },
          body: JSON.stringify(body(prompt)),
        });
        expect(res.status).toBe(200);
        await res.text();
        expect(before - (await gw.balance(c.accountId))).toBe(expected);
      }
    });
  }
});
