import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import OpenAI from "openai";
import { chat, until, user } from "./support/chat";
import { RATE_LIMITED, startGateway, TestClock, type Gateway } from "./support/gateway";

// Real servers and real sleeps (the SDK honours retry-after) on a shared, noisy machine.
setDefaultTimeout(60_000);

/**
 * Rate limits over HTTP, against the real chat route and a fake upstream. The gateway's clock is
 * injected: frozen, bucket levels and waits are exact; running, it moves at real speed (the SDK
 * really sleeps for retry-after-ms).
 */
const PLANS = {
  rpm60: { rpm: 60, tpm: 10_000_000, concurrency: 1000 },
  tpm1000: { rpm: 100_000, tpm: 1000, concurrency: 1000 },
  conc20: { rpm: 100_000, tpm: 100_000_000, concurrency: 20 },
};

type Err = { error: { message: string; type: string; code: string | null; param: string | null } };
const ask = (g: Gateway, key: string, extra: Record<string, unknown> = {}) =>
  chat(g.url, key, { model: "grok-4", messages: user(), max_tokens: 10, ...extra });

/** An OpenAI client with default retries whose every HTTP exchange is recorded. */
function sdk(g: Gateway, key: string) {
  const seen: { status: number; retryAfterMs: string | null; retryAfter: string | null }[] = [];
  const client = new OpenAI({
    apiKey: key,
    baseURL: `${g.url}/v1`,
    fetch: async (input: string | URL | Request, init?: RequestInit) => {
      const res = await fetch(input, init);
      seen.push({ status: res.status, retryAfterMs: res.headers.get("retry-after-ms"), retryAfter: res.headers.get("retry-after") });
      return res;
    },
  });
  return { client, seen };
}

/** n simultaneous requests; each response with its body read. */
async function drain(g: Gateway, key: string, n: number) {
  const rs = await Promise.all(Array.from({ length: n }, () => ask(g, key)));
  return Promise.all(rs.map(async (r) => ({ status: r.status, headers: r.headers, text: await r.text() })));
}

describe("requests per minute", () => {
  let g: Gateway;
  beforeAll(async () => {
    g = await startGateway({ ...RATE_LIMITED, clock: new TestClock(), config: { plans: PLANS } });
  });
  afterAll(() => g.stop());

  test("a 60 RPM key gets exactly the burst, then honest 429s; a client that ignores retry-after gets nothing more", async () => {
    g.clock.freeze();
    const c = await g.customer(100_000_000, {}, { plan: "rpm60" });
    const rs = await drain(g, c.key, 70);
    expect(rs.filter((r) => r.status === 200).length).toBe(60);
    const refused = rs.filter((r) => r.status === 429);
    expect(refused.length).toBe(10);

    // Hammering without waiting changes nothing: every answer is the same honest 429.
    for (let i = 0; i < 20; i++) {
      const r = await ask(g, c.key);
      refused.push({ status: r.status, headers: r.headers, text: await r.text() });
    }
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.headers.get("content-type")).toContain("application/json");
      expect(r.headers.get("retry-after")).toBe("1");
      expect(r.headers.get("retry-after-ms")).toBe("1000");
      expect(r.headers.get("x-should-retry")).toBeNull();
      expect(r.headers.get("x-ratelimit-limit-requests")).toBe("60");
      expect(r.headers.get("x-ratelimit-remaining-requests")).toBe("0");
      expect(r.headers.get("x-ratelimit-reset-requests")).toBe("1m0s");
      expect(r.headers.get("x-ratelimit-limit-tokens")).toBe("10000000");
      expect(r.headers.get("x-request-id")).toStartWith("req_");
      const body = JSON.parse(r.text) as Err;
      expect(body.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded", param: null });
      expect(body.error.message).toContain("Limit 60");
    }
    // Refused requests never reached the upstream.
    expect(g.upstream.requests.length).toBe(60);

    // The wait is the true one: 1 ms early is still refused, on time is admitted.
    g.clock.add(999);
    const early = await ask(g, c.key);
    expect(early.status).toBe(429);
    expect(early.headers.get("retry-after-ms")).toBe("1");
    g.clock.add(1);
    expect((await ask(g, c.key)).status).toBe(200);
  });

  test("the openai SDK with default retries completes a burst larger than the limit by honouring retry-after", async () => {
    g.clock.freeze();
    const c = await g.customer(100_000_000, {}, { plan: "rpm60" });
    expect((await drain(g, c.key, 60)).every((r) => r.status === 200)).toBe(true);
    const { client, seen } = sdk(g, c.key);
    g.clock.run();

    // 3 more than the burst, one after the other (one of them streamed): each must wait ~1 s.
    const answers: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await client.chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "hi" }], max_tokens: 10 });
      answers.push(r.choices[0]!.message.content ?? "");
    }
    const stream = await client.chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "hi" }], max_tokens: 10, stream: true });
    let streamed = "";
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? "";
    answers.push(streamed);

    expect(answers.every((a) => a.length > 0)).toBe(true);
    const retries = seen.filter((s) => s.status === 429);
    // Every 429 was retried by the SDK itself (none surfaced), each told the real wait (< 1 s here).
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(seen.filter((s) => s.status === 200).length).toBe(3);
    expect(seen.length).toBe(3 + retries.length);
    for (const r of retries) {
      const ms = Number(r.retryAfterMs);
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(1000);
      expect(r.retryAfter).toBe(String(Math.ceil(ms / 1000)));
    }
    g.clock.freeze();
  });

  test("with time standing still the SDK gives up after its two retries with a RateLimitError", async () => {
    g.clock.freeze();
    const c = await g.customer(100_000_000, {}, { plan: "rpm60" });
    await drain(g, c.key, 60);
    const { client, seen } = sdk(g, c.key);
    const err = await client.chat.completions
      .create({ model: "grok-4", messages: [{ role: "user", content: "hi" }], max_tokens: 10 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).code).toBe("rate_limit_exceeded");
    expect(seen.map((s) => [s.status, s.retryAfterMs])).toEqual([
      [429, "1000"],
      [429, "1000"],
      [429, "1000"],
    ]);
  });
});

describe("tokens per minute", () => {
  let g: Gateway;
  beforeAll(async () => {
    g = await startGateway({ ...RATE_LIMITED, clock: new TestClock(), config: { plans: PLANS } });
  });
  afterAll(() => g.stop());

  test("charged with the estimate at admission, corrected with real usage at settlement, exact waits", async () => {
    g.clock.freeze();
    const c = await g.customer(100_000_000, {}, { plan: "tpm1000" });
    const first = await ask(g, c.key, { max_tokens: 600 });
    expect(first.status).toBe(200);
    const estimate = 1000 - Number(first.headers.get("x-ratelimit-remaining-tokens"));
    expect(estimate).toBeGreaterThan(600); // prompt estimate + max_tokens
    const usage = ((await first.json()) as { usage: { total_tokens: number } }).usage;
    const me = async () =>
      ((await (await g.me(c.key)).json()) as { limits: { remaining: { tokens: number } } }).limits;
    // The real usage (far below 600 + prompt) replaced the estimate.
    expect(await until(async () => (await me()).remaining.tokens === 1000 - usage.total_tokens)).toBe(true);

    // Fill the bucket up to its last few tokens, then ask for more than what is left.
    const left = 1000 - usage.total_tokens;
    const big = await ask(g, c.key, { max_tokens: left - 20, mock: { completion_tokens: left - 20 } });
    expect(big.status).toBe(200);
    await big.text();
    await until(async () => (await me()).remaining.tokens < 100);
    const remaining = (await me()).remaining.tokens;
    const refused = await ask(g, c.key, { max_tokens: 100 });
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as Err;
    expect(body.error).toMatchObject({ type: "tokens", code: "rate_limit_exceeded" });
    const requested = Number(/Requested (\d+)/.exec(body.error.message)![1]);
    // Waiting for (requested - remaining) tokens at 1000 per minute: 60 ms a token, exactly.
    const wait = (requested - remaining) * 60;
    expect(refused.headers.get("retry-after-ms")).toBe(String(wait));
    expect(refused.headers.get("retry-after")).toBe(String(Math.ceil(wait / 1000)));
    g.clock.add(wait - 1);
    expect((await ask(g, c.key, { max_tokens: 100 })).status).toBe(429);
    g.clock.add(1);
    expect((await ask(g, c.key, { max_tokens: 100 })).status).toBe(200);
  });

  test("a request that can never fit gets a final 429 that the SDK does not retry", async () => {
    g.clock.freeze();
    const c = await g.customer(100_000_000, {}, { plan: "tpm1000" });
    const r = await ask(g, c.key, { max_tokens: 999 });
    expect(r.status).toBe(429);
    expect(r.headers.get("x-should-retry")).toBe("false");
    expect(r.headers.get("retry-after")).toBeNull();
    const body = (await r.json()) as Err;
    expect(body.error).toMatchObject({ type: "tokens", code: "rate_limit_exceeded" });
    expect(body.error.message).toContain("Request too large");

    const { client, seen } = sdk(g, c.key);
    const err = await client.chat.completions
      .create({ model: "grok-4", messages: [{ role: "user", content: "hi" }], max_tokens: 999 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(seen.length).toBe(1);
  });
});

describe("concurrency", () => {
  let g: Gateway;
  beforeAll(async () => {
    g = await startGateway({ ...RATE_LIMITED, clock: new TestClock(), config: { plans: PLANS } });
  });
  afterAll(() => g.stop());

  const slotsLeft = async (key: string) =>
    ((await (await g.me(key)).json()) as { limits: { remaining: { concurrency: number } } })
      .limits.remaining.concurrency;

  test("200 simultaneous streams against a cap of 20: exactly 20 run, the rest get 429s; a client abort frees its slot", async () => {
    g.clock.freeze();
    const c = await g.customer(1_000_000_000, {}, { plan: "conc20" });
    const aborts = Array.from({ length: 200 }, () => new AbortController());
    // Each admitted stream sends one chunk, then hangs until its client goes away.
    const rs = await Promise.all(
      aborts.map((a) =>
        chat(g.url, c.key, { model: "grok-4", messages: user(), max_tokens: 10, stream: true, mock: { hang: "body", after_chunks: 1 } }, { signal: a.signal }),
      ),
    );
    const running = rs.filter((r) => r.status === 200);
    const refused = rs.filter((r) => r.status === 429);
    expect(running.length).toBe(20);
    expect(refused.length).toBe(180);
    for (const r of refused) {
      expect(r.headers.get("retry-after")).toBe("1");
      const body = (await r.json()) as Err;
      expect(body.error).toMatchObject({ type: "requests", code: "rate_limit_exceeded" });
      expect(body.error.message).toContain("concurrent requests");
    }
    expect(await slotsLeft(c.key)).toBe(0);
    expect(g.upstream.open).toBe(20);

    for (const a of aborts) a.abort();
    expect(await until(async () => (await slotsLeft(c.key)) === 20, 10_000)).toBe(true);
    expect(await until(() => g.upstream.open === 0, 10_000)).toBe(true);
    const after = await ask(g, c.key);
    expect(after.status).toBe(200);
    await after.text();
  });

  test("slots are released on completion, on upstream errors and on streams that end early", async () => {
    g.clock.freeze();
    const c = await g.customer(1_000_000_000, {}, { plan: "conc20" });
    const cases: Record<string, unknown>[] = [
      {},
      { stream: true },
      { mock: { status: 500 } },
      { stream: true, mock: { status: 503 } },
      { stream: true, mock: { drop_after_chunks: 2 } },
      { stream: true, mock: { malformed_after_chunks: 1 } },
    ];
    for (let round = 0; round < 5; round++) {
      const rs = await Promise.all(cases.map((extra) => ask(g, c.key, extra)));
      await Promise.all(rs.map((r) => r.text().catch(() => "")));
    }
    expect(await until(async () => (await slotsLeft(c.key)) === 20)).toBe(true);
  });
});

describe("out of credit stays 402", () => {
  test("an account without credit gets 402 insufficient_quota (never 429), over and over", async () => {
    const g = await startGateway({ ...RATE_LIMITED, clock: new TestClock(), config: { plans: PLANS } });
    try {
      g.clock.freeze();
      const c = await g.customer(0, {}, { plan: "rpm60" });
      for (const extra of [{}, { max_tokens: 10 }]) {
        const r = await ask(g, c.key, { max_tokens: undefined, ...extra });
        expect(r.status).toBe(402);
        expect(r.headers.get("x-should-retry")).toBe("false");
        expect(((await r.json()) as Err).error).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota" });
      }
      const me = (await (await g.me(c.key)).json()) as {
        limits: { remaining: { concurrency: number } };
      };
      expect(me.limits.remaining.concurrency).toBe(1000);
    } finally {
      await g.stop();
    }
  });
});
