import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "../src/config/load";
import { CircuitBreaker } from "../src/gateway/upstream/breaker";
import { hostPort, tcpCheck } from "../src/gateway/upstream/connect-check";
import { UpstreamRegistry } from "../src/gateway/upstream/registry";
import { backoffMs, classifyStatus, retryAfterMs } from "../src/gateway/upstream/retry";
import { chat, until, user } from "./support/chat";
import { startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { manualClock } from "./support/foundation";
import { elapsedSince, expectExactLedger, FAST, gatewayOver, readSseTimed } from "./support/resilience";
import type { Gateway } from "./support/gateway";

setDefaultTimeout(30_000);

describe("circuit breaker (injected clock)", () => {
  const make = () => {
    const clock = manualClock();
    return { clock, b: new CircuitBreaker({ failures: 3, windowMs: 10_000, cooldownMs: 5_000 }, clock.now) };
  };

  test("opens after `failures` consecutive failures, refuses while open, half-opens after the cooldown with one probe", () => {
    const { clock, b } = make();
    for (let i = 0; i < 2; i++) b.failure(b.acquire()!);
    expect(b.state).toBe("closed");
    b.failure(b.acquire()!);
    expect(b.state).toBe("open");
    expect(b.acquire()).toBeNull();
    expect(b.retryAt).toBe(clock.now() + 5_000);
    clock.advance(4_999);
    expect(b.acquire()).toBeNull();
    clock.advance(1);
    expect(b.state).toBe("half_open");
    expect(b.acquire()).toBe("probe");
    // Only one probe at a time.
    expect(b.allows()).toBe(false);
    expect(b.acquire()).toBeNull();
    b.success("probe");
    expect(b.state).toBe("closed");
    expect(b.acquire()).toBe("normal");
    expect(b.timesOpened).toBe(1);
  });

  test("a failed probe opens it for another cooldown; a released probe (client gone) frees the slot", () => {
    const { clock, b } = make();
    for (let i = 0; i < 3; i++) b.failure("normal");
    clock.advance(5_000);
    const p = b.acquire()!;
    b.release(p);
    expect(b.acquire()).toBe("probe");
    b.failure("probe");
    expect(b.state).toBe("open");
    expect(b.retryAt).toBe(clock.now() + 5_000);
    expect(b.timesOpened).toBe(2);
  });

  test("a probe's slot goes back at its headers; the end of its body still decides the half-open breaker", () => {
    const { clock, b } = make();
    for (let i = 0; i < 3; i++) b.failure("normal");
    clock.advance(5_000);
    const first = b.answered(b.acquire()!);
    expect(first).toBe("answered_probe");
    // A long stream does not keep every other trial out.
    expect(b.acquire()).toBe("probe");
    b.release("probe");
    b.failure(first);
    expect(b.state).toBe("open");
    expect(b.timesOpened).toBe(2);
    clock.advance(5_000);
    const second = b.answered(b.acquire()!);
    b.success(second);
    expect(b.state).toBe("closed");
    // Closed meanwhile by another call: a trial's late failure is one failure of the streak, not a reopening.
    clock.advance(5_000);
    for (let i = 0; i < 3; i++) b.failure("normal");
    clock.advance(5_000);
    const late = b.answered(b.acquire()!);
    b.success("normal");
    b.failure(late);
    expect(b.state).toBe("closed");
  });

  test("a probe that fails for the one account still failing closes it: that account alone never keeps it open", () => {
    const clock = manualClock();
    const b = new CircuitBreaker({ failures: 3, windowMs: 1_000, cooldownMs: 400, minAccounts: 2 }, clock.now);
    // The rules hold without A (the account with the most failures): B alone fails 3 times.
    for (let i = 0; i < 3; i++) b.failure("normal", "acc_b");
    for (let i = 0; i < 3; i++) b.failure("normal", "acc_a");
    expect(b.state).toBe("open");
    // B's failure ages out of the window; A's requests keep failing and take the probe.
    clock.advance(1_200);
    expect(b.acquire()).toBe("probe");
    b.failure("probe", "acc_a");
    expect(b.state).toBe("closed");
    for (let i = 0; i < 5; i++) b.failure(b.acquire()!, "acc_a");
    expect(b.state).toBe("closed");
    // Two accounts failing in the window: a failed probe opens it again.
    for (let i = 0; i < 3; i++) b.failure("normal", "acc_b");
    for (let i = 0; i < 3; i++) b.failure("normal", "acc_a");
    expect(b.state).toBe("open");
    clock.advance(400);
    b.failure(b.acquire()!, "acc_b");
    expect(b.state).toBe("open");
    expect(b.timesOpened).toBe(3);
  });

  test("a success resets the count; failures spread beyond the window do not open it", () => {
    const { clock, b } = make();
    b.failure("normal");
    b.failure("normal");
    b.success("normal");
    b.failure("normal");
    b.failure("normal");
    expect(b.state).toBe("closed");
    clock.advance(10_001);
    b.failure("normal");
    expect(b.state).toBe("closed");
    b.failure("normal");
    b.failure("normal");
    expect(b.state).toBe("open");
  });

  test("recent error rate over the window", () => {
    const { clock, b } = make();
    b.success("normal");
    b.failure("normal");
    b.success("normal");
    b.success("normal");
    expect(b.recent()).toEqual({ requests: 4, failures: 1, errorRate: 0.25 });
    clock.advance(10_001);
    expect(b.recent()).toEqual({ requests: 0, failures: 0, errorRate: 0 });
  });
});

describe("retry policy", () => {
  test("full-jitter exponential backoff, capped", () => {
    expect(backoffMs(1, 200, () => 0.999)).toBe(199);
    expect(backoffMs(2, 200, () => 0.5)).toBe(200);
    expect(backoffMs(3, 200, () => 0.999)).toBe(799);
    expect(backoffMs(1, 200, () => 0)).toBe(0);
    expect(backoffMs(30, 200, () => 0.999)).toBeLessThanOrEqual(10_000);
  });

  test("retry-after: seconds, milliseconds, HTTP date", () => {
    expect(retryAfterMs(new Headers({ "retry-after": "7" }))).toBe(7_000);
    expect(retryAfterMs(new Headers({ "retry-after": "1", "retry-after-ms": "250" }))).toBe(250);
    const now = Date.UTC(2030, 0, 1);
    expect(retryAfterMs(new Headers({ "retry-after": new Date(now + 3_000).toUTCString() }), now)).toBe(3_000);
    expect(retryAfterMs(new Headers({ "retry-after": "soon" }))).toBeNull();
    expect(retryAfterMs(new Headers())).toBeNull();
  });

  test("what each upstream status leads to", () => {
    expect(classifyStatus(500, "upstream_error")).toEqual({ action: "retry", breaker: true });
    expect(classifyStatus(503, "upstream_unavailable")).toEqual({ action: "retry", breaker: true });
    expect(classifyStatus(429, "upstream_overloaded")).toEqual({ action: "retry", breaker: true });
    expect(classifyStatus(429, "upstream_unavailable")).toEqual({ action: "next_key", breaker: true });
    expect(classifyStatus(401, "upstream_auth_error")).toEqual({ action: "next_key", breaker: true });
    expect(classifyStatus(400, "upstream_auth_error")).toEqual({ action: "next_key", breaker: true });
    expect(classifyStatus(404, "upstream_model_unavailable")).toEqual({ action: "next_deployment", breaker: false });
    expect(classifyStatus(400, "context_length_exceeded")).toEqual({ action: "fatal", breaker: false });
    expect(classifyStatus(413, "request_too_large")).toEqual({ action: "fatal", breaker: false });
  });
});

describe("deployment order", () => {
  const config = loadConfig({
    overrides: {
      providers: [
        { id: "a", base_url: "http://a.test/v1", api_keys: ["ka1", "ka2"] },
        { id: "b", base_url: "http://b.test/v1", api_key: "kb" },
        { id: "c", base_url: "http://c.test/v1", api_key: "kc" },
      ],
      models: [
        {
          id: "m",
          input_price: 1,
          output_price: 1,
          deployments: [
            { provider: "c", priority: 5 },
            { provider: "a", priority: 1, weight: 3 },
            { provider: "b", priority: 1, weight: 1, upstream_model: "m-b" },
          ],
        },
      ],
    },
  });
  const model = config.models[0]!;

  test("priorities ascending, keys rotated round-robin per request", () => {
    const reg = new UpstreamRegistry(config, { random: () => 0.5 });
    const order = () => reg.candidates(model).map((c) => `${c.target.id}:${c.deployment.upstream_model}`);
    const first = order();
    expect(first.at(-1)).toBe("c#1:m");
    expect(first.slice(0, 3).sort()).toEqual(["a#1:m", "a#2:m", "b#1:m-b"]);
    const second = order();
    // a's keys start one further on the next request.
    expect(first.filter((x) => x.startsWith("a"))).toEqual(["a#1:m", "a#2:m"]);
    expect(second.filter((x) => x.startsWith("a"))).toEqual(["a#2:m", "a#1:m"]);
  });

  test("weights: the heavier deployment comes first about weight/total of the time", () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const reg = new UpstreamRegistry(config, { random });
    let aFirst = 0;
    const N = 4000;
    for (let i = 0; i < N; i++) if (reg.candidates(model)[0]!.target.provider.id === "a") aFirst++;
    expect(aFirst / N).toBeGreaterThan(0.7);
    expect(aFirst / N).toBeLessThan(0.8);
  });
});

describe("connect check", () => {
  test("a listening host passes, a closed port fails at once; a host is checked until it has answered", async () => {
    const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
    const open = `http://127.0.0.1:${s.port}/v1`;
    expect(hostPort(open)).toEqual({ hostname: "127.0.0.1", port: s.port! });
    expect(hostPort("https://api.x.ai/v1")).toEqual({ hostname: "api.x.ai", port: 443 });
    expect(await tcpCheck("127.0.0.1", s.port!, 1_000)).toBeNull();
    await s.stop(true);
    const t0 = performance.now();
    expect(await tcpCheck("127.0.0.1", s.port!, 1_000)).toBeString();
    expect(performance.now() - t0).toBeLessThan(1_500);

    const reg = new UpstreamRegistry(loadConfig({}));
    expect(reg.needsConnectCheck(open)).toBe(true);
    reg.markOrigin(open, true);
    expect(reg.needsConnectCheck(open)).toBe(false);
    reg.markOrigin(open, false);
    expect(reg.needsConnectCheck(open)).toBe(true);
  });
});

describe("breaker end to end, with GET /admin/upstreams", () => {
  let upstream: MockUpstream;
  let gw: Gateway;
  const CREDITS = 10_000_000;
  type View = {
    object: string;
    in_flight: number;
    data: { id: string; provider: string; key_hint: string; state: string; retry_at: number | null; requests: number; failures: number; recent: { error_rate: number; requests: number; failures: number }; last_error: string | null; deployments: { model: string }[] }[];
  };
  const view = async () => (await (await gw.admin("/admin/upstreams")).json()) as View;

  beforeAll(async () => {
    upstream = startFakeUpstream();
    gw = await gatewayOver([{ id: "xai", url: upstream.url, keys: ["xai-secret-key-9876"] }], {
      retry: { ...FAST.retry, max_attempts: 1 },
      breaker: { failures: 3, window_ms: 30_000, cooldown_ms: 1_500, min_accounts: 1 },
    });
  });
  afterAll(async () => {
    await gw.stop();
    await upstream.stop();
  });

  test("repeated failures open it: then 503 with retry-after at once, without calling the upstream", async () => {
    const c = await gw.customer(CREDITS);
    upstream.setDefaults({ status: 500 });
    for (let i = 0; i < 3; i++) expect((await chat(gw.url, c.key, { model: "grok-4", messages: user() })).status).toBe(502);
    const v = await view();
    expect(v.object).toBe("list");
    expect(v.data).toHaveLength(1);
    expect(v.data[0]).toMatchObject({ id: "xai#1", provider: "xai", key_hint: "…9876", state: "open", requests: 3, failures: 3 });
    expect(v.data[0]!.recent).toEqual({ window_seconds: 30, requests: 3, failures: 3, error_rate: 1 } as never);
    expect(v.data[0]!.last_error).toContain("upstream_error");
    expect(v.data[0]!.deployments.map((d) => d.model)).toEqual(["grok-4"]);
    expect(JSON.stringify(v)).not.toContain("xai-secret-key");

    const before = upstream.requests.length;
    const t0 = performance.now();
    const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true });
    expect(res.status).toBe(503);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await res.json()) as { error: { code: string; type: string } }).error).toMatchObject({ code: "upstream_unavailable", type: "server_error" });
    expect(elapsedSince(t0)).toBeLessThan(1_500);
    expect(upstream.requests.length).toBe(before);
    expect((await expectExactLedger(gw, c.accountId, CREDITS)).size).toBe(0);
  });

  test("after the cooldown one probe goes through; its success closes the breaker", async () => {
    const c = await gw.customer(CREDITS);
    upstream.setDefaults({});
    expect(await until(async () => (await view()).data[0]!.state === "half_open", 5_000, 100)).toBe(true);
    const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { prompt_tokens: 10, completion_tokens: 3 } });
    expect(res.status).toBe(200);
    expect((await readSseTimed(res)).done).toBe(true);
    expect((await view()).data[0]!.state).toBe("closed");
    expect([...(await expectExactLedger(gw, c.accountId, CREDITS)).values()]).toEqual([10 * 3 + 3 * 15]);
  });

  test("admin only, and listed in the OpenAPI spec", async () => {
    const c = await gw.customer(0);
    const denied = await fetch(`${gw.url}/admin/upstreams`, { headers: { authorization: `Bearer ${c.key}` } });
    expect(denied.status).toBe(401);
    const spec = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { paths: Record<string, { get?: { summary?: string } }> };
    expect(spec.paths["/admin/upstreams"]?.get?.summary).toContain("circuit breaker");
  });
});
