/**
 * One customer cannot shut the upstream for everyone: local failures never reach a breaker, a
 * customer's 400 stays a 400, and a breaker opens only on failures of several accounts (or when
 * one account is all the traffic). Also: what served a request is recorded, and first_byte_ms
 * bounds non-streaming requests.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { chat, user } from "./support/chat";
import { startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import type { Gateway } from "./support/gateway";
import { elapsedSince, FAST, gatewayOver, usageRow } from "./support/resilience";

setDefaultTimeout(30_000);

let upstream: MockUpstream;
beforeAll(() => {
  upstream = startFakeUpstream();
});
afterAll(async () => {
  await upstream.stop();
});

type Err = { error: { message: string; type: string; code: string | null } };
type UpstreamView = { state: string; failures: number; times_opened: number };

/** The default breaker (5 failures, 2 accounts, 20 requests at 50 %), one upstream key. */
const withBreaker = (overrides: Record<string, unknown> = {}) =>
  gatewayOver([{ id: "fake", url: upstream.url }], { breaker: { cooldown_ms: 60_000 }, retry: { max_attempts: 1 }, ...overrides });

async function upstreamState(gw: Gateway): Promise<UpstreamView> {
  const list = (await (await gw.admin("/admin/upstreams")).json()) as { data: UpstreamView[] };
  return list.data[0]!;
}

/** A 100,000-deep array: valid JSON that breaks a recursive serialiser. */
const deepJson = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

describe("local failures are never upstream failures", () => {
  test("a 100,000-deep array in an unvalidated field is a 400 for that request; nothing reaches the upstream or a breaker", async () => {
    const gw = await withBreaker({ breaker: { failures: 1, min_accounts: 1, cooldown_ms: 60_000 } });
    try {
      const c = await gw.customer(10_000);
      const before = upstream.requests.length;
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${gw.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
          body: `{"model":"grok-4","messages":[{"role":"user","content":"hi"}],"metadata":${deepJson(100_000)}}`,
        });
        expect(res.status).toBe(400);
        expect(((await res.json()) as Err).error.code).toBe("json_too_deep");
      }
      expect(upstream.requests.length).toBe(before);
      expect(await upstreamState(gw)).toMatchObject({ state: "closed", failures: 0, times_opened: 0 });
      // Real JSON schemas nest far less: 60 levels pass.
      const ok = await fetch(`${gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
        body: `{"model":"grok-4","messages":[{"role":"user","content":"hi"}],"metadata":{"x":${deepJson(60)}}}`,
      });
      expect(ok.status).toBe(200);
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });
});

describe("one account cannot open a breaker", () => {
  test("one account's requests answered 500, many times over, do not open it while other accounts are served", async () => {
    const gw = await withBreaker();
    try {
      const bad = await gw.customer(1_000_000);
      const good = await gw.customer(1_000_000);
      for (let i = 0; i < 12; i++) {
        const res = await chat(gw.url, bad.key, { model: "grok-4", messages: user(), max_tokens: 5, mock: { status: 500, error_body: { error: "boom" } } });
        expect(res.status).toBe(502);
        const ok = await chat(gw.url, good.key, { model: "grok-4", messages: user(), max_tokens: 5 });
        expect(ok.status).toBe(200);
      }
      expect(await upstreamState(gw)).toMatchObject({ state: "closed", times_opened: 0 });
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });

  test("an upstream 400 whose message says 'forbidden' stays that customer's 400 with the upstream's message; the breaker never hears of it", async () => {
    const gw = await withBreaker({ breaker: { failures: 2, min_accounts: 1, cooldown_ms: 60_000 } });
    try {
      const c = await gw.customer(1_000_000);
      for (let i = 0; i < 5; i++) {
        const mock = { status: 400, error_body: { code: "Client specified an invalid argument", error: "Tool 'forbidden_tool' is forbidden for this model" } };
        const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 5, mock });
        expect(res.status).toBe(400);
        const body = (await res.json()) as Err;
        expect(body.error).toMatchObject({ type: "invalid_request_error", message: "Tool 'forbidden_tool' is forbidden for this model" });
      }
      expect(await upstreamState(gw)).toMatchObject({ state: "closed", failures: 0, times_opened: 0 });
      const ok = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 5 });
      expect(ok.status).toBe(200);
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });

  test("failures of two accounts still open it (and it says so in the upstream view)", async () => {
    const gw = await withBreaker();
    try {
      const a = await gw.customer(1_000_000);
      const b = await gw.customer(1_000_000);
      // Five failures each: the rules hold without either account (the one with the most failures).
      for (let i = 0; i < 10; i++) {
        const who = i % 2 ? a : b;
        await chat(gw.url, who.key, { model: "grok-4", messages: user(), max_tokens: 5, mock: { status: 503 } });
      }
      expect(await upstreamState(gw)).toMatchObject({ state: "open", times_opened: 1 });
      const refused = await chat(gw.url, a.key, { model: "grok-4", messages: user(), max_tokens: 5 });
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as Err).error.code).toBe("upstream_unavailable");
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });

  test("two SDK calls answered 500 (six attempts with the SDK's retries) of one account do not open it; the next customer is served", async () => {
    const gw = await withBreaker();
    try {
      const a = await gw.customer(1_000_000);
      const other = await gw.customer(1_000_000);
      const client = new OpenAI({ apiKey: a.key, baseURL: `${gw.url}/v1`, maxRetries: 2 });
      for (let i = 0; i < 2; i++) {
        // The SDK's promise type keeps its own state: expect().rejects would see it resolved.
        const status = await client.chat.completions
          .create({ model: "grok-4", messages: user(), max_tokens: 5, mock: { status: 500 } } as never)
          .then(() => 200, (e: { status?: number }) => e.status);
        expect(status).toBe(502);
      }
      expect(await upstreamState(gw)).toMatchObject({ state: "closed", failures: 6, times_opened: 0 });
      const next = await chat(gw.url, other.key, { model: "grok-4", messages: user(), max_tokens: 5 });
      expect(next.status).toBe(200);
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });

  test("a gateway with one account sets breaker.min_accounts to 1: its failures open the breaker", async () => {
    const gw = await withBreaker({ breaker: { min_accounts: 1, cooldown_ms: 60_000 } });
    try {
      const a = await gw.customer(1_000_000);
      for (let i = 0; i < 5; i++) await chat(gw.url, a.key, { model: "grok-4", messages: user(), max_tokens: 5, mock: { status: 503 } });
      expect(await upstreamState(gw)).toMatchObject({ state: "open" });
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });
});

describe("what served a request, and how long a whole answer may take", () => {
  test("the usage row records the upstream key and model that answered, after a failover", async () => {
    const down = startFakeUpstream({ defaults: { status: 503 } });
    const gw = await gatewayOver([{ id: "first", url: down.url }, { id: "second", url: upstream.url }], { retry: { max_attempts: 3, base_ms: 1 } });
    try {
      const c = await gw.customer(1_000_000);
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 5 });
      expect(res.status).toBe(200);
      await res.json();
      const row = gw.runtime.deps.store.sqlite
        .query<{ upstream: string; endpoint: string }, [string]>("SELECT upstream, endpoint FROM usage_log WHERE request_id = ?")
        .get(res.headers.get("x-request-id")!);
      expect(row).toEqual({ upstream: "second#1/grok-4-0709", endpoint: "chat.completions" });
    } finally {
      await gw.stop({ keepUpstream: true });
      await down.stop();
    }
  });

  test("timeouts.first_byte_ms bounds a non-streaming request too: a hung upstream is a 504 long before total_ms", async () => {
    const gw = await gatewayOver([{ id: "fake", url: upstream.url }], { retry: { max_attempts: 1 }, timeouts: { ...FAST.timeouts, first_byte_ms: 500, total_ms: 30_000 }, hold_ttl_seconds: 60 });
    try {
      const c = await gw.customer(1_000_000);
      const t0 = performance.now();
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { hang: "headers" } });
      expect(res.status).toBe(504);
      expect(elapsedSince(t0)).toBeLessThan(2_500);
      expect(usageRow(gw.runtime.deps.store.sqlite, res.headers.get("x-request-id")!)).toMatchObject({ status: 504, cost_micros: 0 });
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });
});
