/**
 * The metered APIs other than chat, over HTTP against the demo mock upstream: what a request is
 * admitted for must cover everything it may generate, and what reaches the upstream.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startGateway, type Gateway } from "./support/gateway";

const PLANS = { wide: { rpm: 100_000, tpm: 100_000, concurrency: 100 } };

let g: Gateway;
beforeAll(async () => {
  g = await startGateway({ upstream: true, config: { plans: PLANS } });
});
afterAll(() => g.stop());

const post = (key: string, path: string, body: unknown) =>
  fetch(`${g.url}/v1${path}`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });

describe("legacy completions", () => {
  test("a batch of prompts is admitted for max_tokens per prompt and choice", async () => {
    const c = await g.customer(100_000_000, {}, { plan: "wide" });
    const res = await post(c.key, "/completions", { model: "grok-4", prompt: ["a", "b", "c", "d"], max_tokens: 1000, n: 2, mock: { completion_tokens: 3 } });
    expect(res.status).toBe(200);
    await res.text();
    // Admitted with 4 prompts × 2 choices × 1000 tokens (plus the prompts) taken from 100,000.
    expect(Number(res.headers.get("x-ratelimit-remaining-tokens"))).toBeLessThanOrEqual(100_000 - 8_000);
  });

  test("the hold covers every prompt of a batch: a balance that covers one prompt's output is refused", async () => {
    // 0.05 USD covers 2 × 1000 output tokens of grok-4 (15 USD per million), not 4 × 2 × 1000.
    const c = await g.customer(50_000);
    const res = await post(c.key, "/completions", { model: "grok-4", prompt: ["a", "b", "c", "d"], max_tokens: 1000, n: 2 });
    expect(res.status).toBe(402);
    expect(await g.balance(c.accountId)).toBe(50_000);
  });
});

describe("tokenize", () => {
  test("free, and fields that could redirect the call never reach the upstream", async () => {
    const c = await g.customer(1_000_000);
    const before = g.upstream.requests.length;
    const res = await post(c.key, "/tokenize-text", { model: "grok-4", text: "hello world", api_key: "sk-elsewhere", api_base: "http://elsewhere.invalid" });
    expect(res.status).toBe(200);
    await res.text();
    const sent = g.upstream.requests.slice(before).find((r) => r.path.endsWith("/tokenize-text"))!;
    expect(sent.body).toMatchObject({ model: "grok-4-0709", text: "hello world" });
    expect(sent.body.api_key).toBeUndefined();
    expect(sent.body.api_base).toBeUndefined();
    expect(await g.balance(c.accountId)).toBe(1_000_000);
  });
});
