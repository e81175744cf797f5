/**
 * The metered APIs other than chat, over HTTP against the demo mock upstream: what a request is
 * admitted for must cover everything it may generate, and what reaches the upstream.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
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

describe("an output limit the credit cannot hold", () => {
  // 1 USD holds at most ~66,000 output tokens of grok-4 (15 USD per million): a larger limit is
  // still refused (the hold is the whole limit), but by name, not as "out of credits".
  const limitRefused = /holds up to [\d.]+ USD for (\w+)=(\d+) and the account has ([\d.]+) USD available; lower \1 to at most (\d+)\./;
  const user = [{ role: "user" as const, content: "hi" }];

  test("is a 402 naming max_tokens / max_completion_tokens / max_output_tokens (OpenAI SDK); the limit it names is served", async () => {
    const c = await g.customer(1_000_000, {}, { plan: "wide" });
    const client = new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 });
    const cases: [string, () => Promise<unknown>][] = [
      ["max_tokens", () => client.chat.completions.create({ model: "grok-4", max_tokens: 100_000, messages: user })],
      ["max_completion_tokens", () => client.chat.completions.create({ model: "grok-4", max_completion_tokens: 100_000, messages: user })],
      ["max_output_tokens", () => client.responses.create({ model: "grok-4", max_output_tokens: 100_000, input: "hi" })],
    ];
    for (const [param, call] of cases) {
      const e = (await call().catch((x) => x)) as InstanceType<typeof OpenAI.APIError>;
      expect(e).toBeInstanceOf(OpenAI.APIError);
      expect([e.status, e.type, e.code, e.param]).toEqual([402, "insufficient_quota", "insufficient_quota", param]);
      expect(e.headers?.get("x-should-retry")).toBe("false");
      expect(e.message).toMatch(limitRefused);
      expect(limitRefused.exec(e.message)!.slice(1, 4)).toEqual([param, "100000", "1"]);
    }
    expect(await g.balance(c.accountId)).toBe(1_000_000);
    const fits = Number(limitRefused.exec(((await cases[0]![1]().catch((x) => x)) as Error).message)![4]);
    const served = await client.chat.completions.create({ model: "grok-4", max_tokens: fits, messages: user, mock: { completion_tokens: 3 } } as never);
    expect(served.choices[0]!.finish_reason).toBeString();
  });

  test("Anthropic's SDK: a billing_error naming max_tokens; with the prompt alone unaffordable, still out of credits", async () => {
    // The SDK itself refuses a non-streamed max_tokens above ~21,000: 20,000 tokens on 0.2 USD.
    const c = await g.customer(200_000, {}, { plan: "wide" });
    const client = new Anthropic({ apiKey: c.key, baseURL: g.url, maxRetries: 0 });
    const e = (await client.messages.create({ model: "grok-4", max_tokens: 20_000, messages: user }).catch((x) => x)) as InstanceType<typeof Anthropic.APIError>;
    expect(e).toBeInstanceOf(Anthropic.APIError);
    expect(e.status).toBe(402);
    const error = (e.error as { error: { type: string; message: string } }).error;
    expect(error.type).toBe("billing_error");
    expect(error.message).toMatch(limitRefused);
    expect(limitRefused.exec(error.message)!.slice(1, 4)).toEqual(["max_tokens", "20000", "0.2"]);
    expect(await g.balance(c.accountId)).toBe(200_000);
    // 20 micros cannot hold even 16 output tokens: no smaller max_tokens would do.
    const poor = await g.customer(20, {}, { plan: "wide" });
    const broke = await post(poor.key, "/chat/completions", { model: "grok-4", max_tokens: 100_000, messages: user });
    expect(broke.status).toBe(402);
    expect(((await broke.json()) as { error: { message: string; param: string | null } }).error).toMatchObject({ param: null, message: expect.stringContaining("run out of credits") });
  });

  test("a key's spending cap or budget that binds only because of the limit names the limit too, with its own code", async () => {
    const binds = /holds up to [\d.]+ USD for max_tokens=100000 and (.+) leaves ([\d.]+) USD; lower max_tokens to at most (\d+)\./;
    const cases: [Record<string, unknown>, string, string][] = [
      [{ spend_cap_micros: 1_000_000 }, "spend_cap_reached", "this API key's spending cap"],
      [{ budget: { period: "day", amount_micros: 500_000 } }, "budget_exhausted", "this key's daily budget, which resets at "],
    ];
    for (const [limit, code, what] of cases) {
      const c = await g.customer(100_000_000, limit, { plan: "wide" });
      const res = await post(c.key, "/chat/completions", { model: "grok-4", max_tokens: 100_000, messages: user });
      expect(res.status).toBe(402);
      const { error } = (await res.json()) as { error: { code: string; param: string | null; message: string } };
      expect([error.code, error.param]).toEqual([code, "max_tokens"]);
      const m = binds.exec(error.message);
      expect(m?.[1]).toStartWith(what);
      if (code === "budget_exhausted") expect(res.headers.get("x-budget-reset")).toBeString();
      const served = await post(c.key, "/chat/completions", { model: "grok-4", max_tokens: Number(m![3]), messages: user, mock: { completion_tokens: 3 } });
      expect(served.status).toBe(200);
      await served.text();
    }
  });
});
