import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chat, user } from "./support/chat";
import { startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { deadUrl, elapsedSince, expectExactLedger, FAST, gatewayOver, readSseTimed } from "./support/resilience";
import type { Gateway } from "./support/gateway";

/** Several deployments and keys: a failing upstream is hidden from customers, who are charged once. */
setDefaultTimeout(30_000);
const CREDITS = 10_000_000;
const COST = 20 * 3 + 6 * 15;
const MOCK = { prompt_tokens: 20, completion_tokens: 6 };
let primary: MockUpstream;
let fallback: MockUpstream;
const gateways: Gateway[] = [];

beforeAll(() => {
  primary = startFakeUpstream();
  fallback = startFakeUpstream();
});
afterEach(async () => {
  primary.setDefaults({});
  fallback.setDefaults({});
  for (const g of gateways.splice(0)) await g.stop();
});
afterAll(async () => {
  await primary.stop();
  await fallback.stop();
});

async function twoDeployments(overrides: Record<string, unknown> = {}) {
  const g = await gatewayOver(
    [
      { id: "xai", url: primary.url },
      { id: "backup", url: fallback.url },
    ],
    overrides,
  );
  gateways.push(g);
  return g;
}

describe("failover between deployments (priority order)", () => {
  for (const stream of [false, true]) {
    test(`first deployment answers 500 → the second answers; client gets 200, charged once (${stream ? "stream" : "non-stream"})`, async () => {
      const g = await twoDeployments();
      primary.setDefaults({ status: 500 });
      const c = await g.customer(CREDITS);
      const [p0, f0] = [primary.requests.length, fallback.requests.length];
      const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), stream, mock: MOCK });
      expect(res.status).toBe(200);
      if (stream) expect((await readSseTimed(res)).done).toBe(true);
      else expect(((await res.json()) as { usage: { total_tokens: number } }).usage.total_tokens).toBe(26);
      expect(primary.requests.length - p0).toBe(1);
      expect(fallback.requests.length - f0).toBe(1);
      // Each deployment gets its own upstream key and model id.
      expect(primary.requests.at(-1)!.headers.authorization).toBe("Bearer xai-upstream-key-0001");
      expect(fallback.requests.at(-1)!.headers.authorization).toBe("Bearer backup-upstream-key-0001");
      const charges = await expectExactLedger(g, c.accountId, CREDITS);
      expect([...charges.values()]).toEqual([COST]);
      expect(charges.has(res.headers.get("x-request-id")!)).toBe(true);
    });
  }

  test("first deployment refuses connections → the second answers at once", async () => {
    const g = await gatewayOver([
      { id: "xai", url: await deadUrl() },
      { id: "backup", url: fallback.url },
    ]);
    gateways.push(g);
    const c = await g.customer(CREDITS);
    const t0 = performance.now();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: MOCK });
    expect(res.status).toBe(200);
    expect((await readSseTimed(res)).done).toBe(true);
    expect(elapsedSince(t0)).toBeLessThan(1_500);
    expect([...(await expectExactLedger(g, c.accountId, CREDITS)).values()]).toEqual([COST]);
  });

  test("first deployment hangs before headers → the second answers after the first-byte timeout", async () => {
    const g = await twoDeployments();
    primary.setDefaults({ hang: "headers" });
    const c = await g.customer(CREDITS);
    const t0 = performance.now();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: MOCK });
    expect(res.status).toBe(200);
    expect((await readSseTimed(res)).done).toBe(true);
    const took = elapsedSince(t0);
    expect(took).toBeGreaterThanOrEqual(FAST.timeouts.first_byte_ms - 50);
    expect(took).toBeLessThan(FAST.timeouts.first_byte_ms + 1_000);
    expect([...(await expectExactLedger(g, c.accountId, CREDITS)).values()]).toEqual([COST]);
  });

  // As by default (first_byte_ms 60 s, budget_ms 15 s): a hang outlasts the retry budget.
  const BUDGET_SHORTER = { timeouts: { ...FAST.timeouts, first_byte_ms: 1_200 }, retry: { ...FAST.retry, max_attempts: 3, budget_ms: 1_000 } };

  test("a first deployment that hangs past retry.budget_ms still fails over: the budget bounds waits and repeats, not a first try", async () => {
    const g = await twoDeployments(BUDGET_SHORTER);
    primary.setDefaults({ hang: "headers" });
    const c = await g.customer(CREDITS);
    const [p0, f0] = [primary.requests.length, fallback.requests.length];
    const t0 = performance.now();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), mock: MOCK });
    const took = elapsedSince(t0);
    expect({ status: res.status, primary: primary.requests.length - p0, fallback: fallback.requests.length - f0 }).toEqual({ status: 200, primary: 1, fallback: 1 });
    expect(took).toBeGreaterThanOrEqual(1_200 - 50);
    expect(took).toBeLessThan(1_200 + 1_000);
    expect([...(await expectExactLedger(g, c.accountId, CREDITS)).values()]).toEqual([COST]);
  });

  test("past retry.budget_ms a deployment already tried is not tried again: both hanging → 504 after one try each", async () => {
    const g = await twoDeployments(BUDGET_SHORTER);
    primary.setDefaults({ hang: "headers" });
    fallback.setDefaults({ hang: "headers" });
    const c = await g.customer(CREDITS);
    const [p0, f0] = [primary.requests.length, fallback.requests.length];
    const t0 = performance.now();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), mock: MOCK });
    const took = elapsedSince(t0);
    expect(res.status).toBe(504);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("upstream_timeout");
    expect({ primary: primary.requests.length - p0, fallback: fallback.requests.length - f0 }).toEqual({ primary: 1, fallback: 1 });
    expect(took).toBeLessThan(2 * 1_200 + 1_000);
    expect((await expectExactLedger(g, c.accountId, CREDITS)).size).toBe(0);
  });

  test("the first deployment not serving the model (404) → the second serves it", async () => {
    const g = await twoDeployments();
    primary.setDefaults({ status: 404, error_body: { error: { message: "The model grok-4-0709 does not exist" } } });
    const c = await g.customer(CREDITS);
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), mock: MOCK });
    expect(res.status).toBe(200);
    expect([...(await expectExactLedger(g, c.accountId, CREDITS)).values()]).toEqual([COST]);
  });

  test("a bad request (400) is not sent to the other deployment", async () => {
    const g = await twoDeployments();
    primary.setDefaults({ status: 400, error_body: { error: { message: "This model's maximum context length is 131072 tokens." } } });
    const c = await g.customer(CREDITS);
    const f0 = fallback.requests.length;
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), mock: MOCK });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("context_length_exceeded");
    expect(fallback.requests.length).toBe(f0);
    expect((await expectExactLedger(g, c.accountId, CREDITS)).size).toBe(0);
  });

  test("both deployments failing → one clear error, nothing charged", async () => {
    const g = await twoDeployments({ retry: { ...FAST.retry, max_attempts: 4 } });
    primary.setDefaults({ status: 503 });
    fallback.setDefaults({ status: 502 });
    const c = await g.customer(CREDITS);
    const [p0, f0] = [primary.requests.length, fallback.requests.length];
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: MOCK });
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("server_error");
    // Alternating: primary, backup, primary, backup.
    expect(primary.requests.length - p0).toBe(2);
    expect(fallback.requests.length - f0).toBe(2);
    expect((await expectExactLedger(g, c.accountId, CREDITS)).size).toBe(0);
  });

  test("a deployment's retry-after holds after the other one failed too: no early attempt, 503 with the wait", async () => {
    const g = await twoDeployments({ retry: { ...FAST.retry, max_attempts: 3 } });
    const slowDown = { status: 429, retry_after: "10", error_body: { error: { message: "slow down" } } };
    primary.setDefaults(slowDown);
    fallback.setDefaults(slowDown);
    const c = await g.customer(CREDITS);
    const [p0, f0] = [primary.requests.length, fallback.requests.length];
    const t0 = performance.now();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), mock: MOCK });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("10");
    expect(elapsedSince(t0)).toBeLessThan(1_500);
    // Ten seconds do not fit the retry budget: the primary is not asked again.
    expect(primary.requests.length - p0).toBe(1);
    expect(fallback.requests.length - f0).toBe(1);
    expect((await expectExactLedger(g, c.accountId, CREDITS)).size).toBe(0);
  });

  test("a deployment waiting out its retry-after is passed over for one that can answer now", async () => {
    const g = await twoDeployments({ retry: { ...FAST.retry, max_attempts: 3 } });
    primary.setDefaults({ status: 429, retry_after: "10", error_body: { error: { message: "slow down" } } });
    fallback.setDefaults({ status: 500, fail_times: 1 });
    const c = await g.customer(CREDITS);
    const [p0, f0] = [primary.requests.length, fallback.requests.length];
    // A mock object of its own: fail_times counts per object.
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), mock: { ...MOCK, text: "passed over" } });
    expect(res.status).toBe(200);
    await res.text();
    expect(primary.requests.length - p0).toBe(1);
    expect(fallback.requests.length - f0).toBe(2);
    expect([...(await expectExactLedger(g, c.accountId, CREDITS)).values()]).toEqual([COST]);
  });
});

describe("several keys of one provider", () => {
  const KEYS = ["xai-key-aaaa", "xai-key-bbbb", "xai-key-cccc"];

  /** The upstream keys `n` successful chat requests went out with, in order. */
  async function keysUsed(url: string, key: string, n: number): Promise<(string | undefined)[]> {
    const p0 = primary.requests.length;
    for (let i = 0; i < n; i++) expect((await chat(url, key, { model: "grok-4", messages: user(), mock: MOCK })).status).toBe(200);
    return primary.requests.slice(p0).map((r) => r.headers.authorization);
  }

  test("requests are spread across the keys in turn", async () => {
    const g = await gatewayOver([{ id: "xai", url: primary.url, keys: KEYS }]);
    gateways.push(g);
    const c = await g.customer(CREDITS);
    expect(await keysUsed(g.url, c.key, 6)).toEqual([...KEYS, ...KEYS].map((k) => `Bearer ${k}`));
    expect((await expectExactLedger(g, c.accountId, CREDITS)).size).toBe(6);
  });

  test("keys take turns also when the model has two deployments on that provider", async () => {
    const keys = KEYS.slice(0, 2);
    const deployments = ["grok-4-0709", "grok-4-fallback"].map((upstream_model, priority) => ({ provider: "xai", upstream_model, priority, weight: 1 }));
    const model = { id: "grok-4", deployments, input_price: 3, cached_input_price: 0.75, output_price: 15, max_output_tokens: 1000 };
    const g = await gatewayOver([{ id: "xai", url: primary.url, keys }], { models: [model] });
    gateways.push(g);
    const c = await g.customer(CREDITS);
    expect(await keysUsed(g.url, c.key, 4)).toEqual([...keys, ...keys].map((k) => `Bearer ${k}`));
  });

  test("a key the upstream refuses (401) is skipped for the next key; customers see only 200s", async () => {
    const g = await gatewayOver([{ id: "xai", url: primary.url, keys: KEYS }], { breaker: { failures: 2, window_ms: 60_000, cooldown_ms: 60_000, min_accounts: 1 } });
    gateways.push(g);
    primary.setDefaults({ status: 401, error_body: { error: { message: "Incorrect API key provided" } }, only_key: KEYS[1] });
    const c = await g.customer(CREDITS);
    for (let i = 0; i < 9; i++) expect((await chat(g.url, c.key, { model: "grok-4", messages: user(), mock: MOCK })).status).toBe(200);
    expect((await expectExactLedger(g, c.accountId, CREDITS)).size).toBe(9);
    const view = (await (await g.admin("/admin/upstreams")).json()) as { data: { id: string; key_hint: string; state: string; failures: number }[] };
    const bad = view.data.find((u) => u.id === "xai#2")!;
    expect(bad).toMatchObject({ key_hint: "…bbbb", state: "open", failures: 2 });
    expect(view.data.filter((u) => u.state === "closed").map((u) => u.id)).toEqual(["xai#1", "xai#3"]);
    expect(JSON.stringify(view)).not.toContain("xai-key-");
  });
});

describe("weights within one priority", () => {
  test("two deployments of equal priority both get traffic", async () => {
    const g = await gatewayOver([
      { id: "xai", url: primary.url, priority: 0, weight: 1 },
      { id: "backup", url: fallback.url, priority: 0, weight: 1 },
    ]);
    gateways.push(g);
    const c = await g.customer(CREDITS);
    const [p0, f0] = [primary.requests.length, fallback.requests.length];
    for (let i = 0; i < 40; i++) expect((await chat(g.url, c.key, { model: "grok-4", messages: user(), mock: MOCK })).status).toBe(200);
    // Each side gets some: the chance that 40 fair draws all land on one side is 2^-39.
    expect(primary.requests.length - p0).toBeGreaterThan(0);
    expect(fallback.requests.length - f0).toBeGreaterThan(0);
    expect(primary.requests.length - p0 + fallback.requests.length - f0).toBe(40);
  });
});
