/**
 * On PostgreSQL an instance admits from a grant it takes from the shared buckets in batches (a
 * twentieth of the limit at least). What a customer is told it has left must count the shared
 * buckets, not that grant: GET /v1/me's limits and the headers of admission's own 429s (a request
 * whose estimate is more than the tokens left) read as on one process, refilled since, full for a
 * bucket this instance never took from. Another instance's unused grant (a batch at most) is the
 * one thing an instance cannot see.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import type { GatewayClient } from "./support/gateway";
import { pgOverFake, sqliteOverFake } from "./support/pg-gateways";
import type { Principal } from "../src/gateway/key-auth";
import type { PlanPolicy } from "../src/gateway/limits/plans";
import { SharedLimiter } from "../src/gateway/limits/shared-limiter";
import { PgStore } from "../src/store/pg-store";

setDefaultTimeout(60_000);
// Grants of 5 requests and 500 tokens at least: far from what is left in the shared buckets.
const PLANS = { default: { rpm: 100, tpm: 10_000, concurrency: 10 } };
const one = sqliteOverFake({ plans: PLANS });
const pg = pgOverFake(2, { plans: PLANS });

/** The answer, its body not read. */
function post(gw: GatewayClient, key: string, body: unknown): Promise<Response> {
  return fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
}
const SMALL = { model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "hi" }] };

/** Requests left, and tokens left rounded to hundreds (the answers' own usage varies a little). */
const left = (requests: unknown, tokens: unknown) => ({ requests: Number(requests), tokensAbout: Math.round(Number(tokens) / 100) * 100 });

test("GET /v1/me tells the requests and tokens left in the shared buckets, as on one process", async () => {
  const scenario = async (gw: GatewayClient) => {
    const c = await gw.customer(10_000_000);
    for (let i = 0; i < 3; i++) {
      const r = await post(gw, c.key, SMALL);
      await r.arrayBuffer();
      expect(r.status).toBe(200);
    }
    const me = (await (await gw.me(c.key)).json()) as { limits: { remaining: { requests: number; tokens: number } } };
    return left(me.limits.remaining.requests, me.limits.remaining.tokens);
  };
  const onSqlite = await scenario(one.sqlite);
  expect(onSqlite.requests).toBe(97);
  expect(await scenario(pg.cluster.gateways[0]!)).toEqual(onSqlite);
});

test("admission's own 429 (an estimate above the tokens left) reports the shared buckets in its headers and message", async () => {
  const scenario = async (gw: GatewayClient) => {
    const c = await gw.customer(10_000_000);
    // A refused body of ~9,000 tokens (an unknown model) leaves about 1,000 of the 10,000.
    expect((await post(gw, c.key, { model: "no-such-model", messages: [{ role: "user", content: "x".repeat(36_000) }] })).status).toBe(404);
    // ~4,000 tokens: within the limit, above what is left, refused by admission after its body.
    const r = await post(gw, c.key, { model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "y".repeat(16_000) }] });
    const message = ((await r.json()) as { error: { message: string } }).error.message;
    // The key and the account are one level each with the same limits: either may be named.
    return {
      status: r.status,
      headers: left(r.headers.get("x-ratelimit-remaining-requests"), r.headers.get("x-ratelimit-remaining-tokens")),
      message: message.replace(/Remaining (\d+)/, (_, n: string) => `Remaining about ${Math.round(Number(n) / 100) * 100}`).replace(/ for (key|account) \S+ on/, " for a level on").replace(/try again in .*/, ""),
    };
  };
  const onSqlite = await scenario(one.sqlite);
  expect(onSqlite.status).toBe(429);
  expect(onSqlite.message).toContain("TPM): Limit 10000, Remaining about 1000");
  expect(await scenario(pg.cluster.gateways[0]!)).toEqual(onSqlite);
});

const remaining = async (gw: GatewayClient, key: string) => ((await (await gw.me(key)).json()) as { limits: { remaining: { requests: number } } }).limits.remaining.requests;

test("a fresh key's GET /v1/me on PostgreSQL reports its whole RPM left, as on one process", async () => {
  const s = await one.sqlite.customer(10_000_000);
  const p = await pg.cluster.gateways[0]!.customer(10_000_000);
  expect({ sqlite: await remaining(one.sqlite, s.key), pg: await remaining(pg.cluster.gateways[0]!, p.key) }).toEqual({ sqlite: 100, pg: 100 });
});

test("GET /v1/me on the instance that did not serve the requests reads the shared bucket (less the other's unused batch at most)", async () => {
  const [a, b] = [pg.cluster.gateways[0]!, pg.cluster.gateways[1]!];
  const c = await a.customer(10_000_000);
  for (let i = 0; i < 3; i++) {
    const r = await post(a, c.key, SMALL);
    await r.arrayBuffer();
    expect(r.status).toBe(200);
  }
  const [onB, onA] = [await remaining(b, c.key), await remaining(a, c.key)];
  // A took a batch of 5 requests and used 3: the 2 it holds are invisible to B. A request refills
  // every 0.6 s meanwhile (a slow machine: a few).
  expect({ onA: onA >= 97 && onA <= 100, onBWithinABatch: onB >= 95 && onB <= 100 }).toEqual({ onA: true, onBWithinABatch: true });
});

test("GET /v1/me on PostgreSQL counts the refill since the last take, as on one process", async () => {
  const scenario = async (gw: GatewayClient) => {
    const c = await gw.customer(10_000_000);
    for (let i = 0; i < 3; i++) await (await post(gw, c.key, SMALL)).arrayBuffer();
    // RPM 100: a request refills every 0.6 s; after 3 s the bucket is full again.
    await Bun.sleep(3_000);
    return remaining(gw, c.key);
  };
  expect({ sqlite: await scenario(one.sqlite), pg: await scenario(pg.cluster.gateways[0]!) }).toEqual({ sqlite: 100, pg: 100 });
});

// Every key /v1/me was asked about, or that made a request, left an entry per bucket for good.
test("the limiter forgets buckets given back and full again: 2,000 keys read once keep no entry", async () => {
  const store = await PgStore.open(pg.cluster.url);
  try {
    const policy = { plans: { free: { rpm: 60, tpm: 100_000, concurrency: 5 } }, default_plan: "free", tiers: [] } as unknown as PlanPolicy;
    const limiter = new SharedLimiter(policy, store, { instanceId: "forget-test" });
    for (let i = 0; i < 2_000; i++) {
      await limiter.freshLimits({ keyId: `key_f${i}`, capKeyId: `key_f${i}`, accountId: `acc_f${i}`, plan: "free", keyLimits: null } as unknown as Principal);
    }
    await limiter.maintain();
    expect((limiter as unknown as { shared: Map<string, unknown> }).shared.size).toBeLessThan(100);
  } finally {
    await store.close();
  }
});
