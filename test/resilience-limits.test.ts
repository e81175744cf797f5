import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ConfigError, loadConfig } from "../src/config/load";
import { chat, until, user } from "./support/chat";
import { startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { expectExactLedger, FAST, gatewayOver, readSseTimed, usageRow } from "./support/resilience";
import type { Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
const CREDITS = 10_000_000;

describe("global cap on concurrent upstream requests", () => {
  let upstream: MockUpstream;
  let gw: Gateway;

  beforeAll(async () => {
    upstream = startFakeUpstream();
    gw = await gatewayOver([{ id: "fake", url: upstream.url }], {
      max_concurrent_streams: 2,
      timeouts: { ...FAST.timeouts, stream_gap_ms: 20_000, total_ms: 25_000 },
      hold_ttl_seconds: 60,
    });
  });
  afterAll(async () => {
    await gw.stop();
    await upstream.stop();
  });

  test("when full: 503 with retry-after at once, nothing held or charged; a freed slot is usable again", async () => {
    const c = await gw.customer(CREDITS);
    const ctrls = [new AbortController(), new AbortController()];
    const running = await Promise.all(
      ctrls.map((ctrl) => chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { hang: "body", after_chunks: 1 } }, { signal: ctrl.signal })),
    );
    for (const r of running) {
      expect(r.status).toBe(200);
      await r.body!.getReader().read();
    }
    const view = async () => (await (await gw.admin("/admin/upstreams")).json()) as { in_flight: number; max_concurrent_streams: number };
    expect(await view()).toMatchObject({ in_flight: 2, max_concurrent_streams: 2 });

    const before = upstream.requests.length;
    const full = await chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true });
    expect(full.status).toBe(503);
    expect(full.headers.get("retry-after")).toBe("1");
    expect(full.headers.get("content-type")).toContain("application/json");
    expect(((await full.json()) as { error: { code: string; type: string } }).error).toMatchObject({ code: "server_busy", type: "server_error" });
    expect(upstream.requests.length).toBe(before);
    expect(usageRow(gw.runtime.deps.store.sqlite, full.headers.get("x-request-id")!)).toBeNull();

    for (const ctrl of ctrls) ctrl.abort();
    expect(await until(async () => (await view()).in_flight === 0, 3_000)).toBe(true);
    const again = await chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true });
    expect(again.status).toBe(200);
    expect((await readSseTimed(again)).done).toBe(true);
    // The two aborted streams pay prompt + what they received; the last one its usage.
    expect((await expectExactLedger(gw, c.accountId, CREDITS)).size).toBe(3);
  });
});

describe("request body limit", () => {
  test("a body above max_body_bytes → 413 in the OpenAI envelope, nothing reaches the upstream", async () => {
    const upstream = startFakeUpstream();
    const gw = await gatewayOver([{ id: "fake", url: upstream.url }], { max_body_bytes: 2048 });
    try {
      const c = await gw.customer(CREDITS);
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user("x".repeat(4096)) });
      expect(res.status).toBe(413);
      expect(res.headers.get("content-type")).toContain("application/json");
      const body = (await res.json()) as { error: { type: string; code: string | null } };
      expect(body.error.type).toBe("invalid_request_error");
      expect(upstream.requests).toHaveLength(0);
      expect((await chat(gw.url, c.key, { model: "grok-4", messages: user("small") })).status).toBe(200);
    } finally {
      await gw.stop();
      await upstream.stop();
    }
  });
});

describe("resilience configuration", () => {
  const base = { providers: [{ id: "p", base_url: "http://p.test/v1", api_key: "k" }] };
  const model = { id: "m", input_price: 1, output_price: 1 };
  const fails = (overrides: Record<string, unknown>, env: Record<string, string> = {}) => {
    try {
      loadConfig({ overrides, env });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error("expected a ConfigError");
  };

  test("defaults are sensible and the hold outlives the longest request", () => {
    const c = loadConfig({});
    expect(c.timeouts).toEqual({ body_ms: 30_000, connect_ms: 5_000, first_byte_ms: 60_000, stream_gap_ms: 60_000, total_ms: 600_000 });
    expect(c.retry.max_attempts).toBeGreaterThan(1);
    expect(c.hold_ttl_seconds * 1000).toBeGreaterThan(c.timeouts.total_ms);
    expect(fails({ hold_ttl_seconds: 60 })).toContain("hold_ttl_seconds");
    expect(fails({ timeouts: { total_ms: "soon" } })).toContain("timeouts.total_ms");
  });

  test("deployments: unknown provider, or both forms, are refused with the field named", () => {
    expect(fails({ ...base, models: [{ ...model, deployments: [{ provider: "p" }, { provider: "nope" }] }] })).toContain("models.m.deployments.1.provider");
    expect(fails({ ...base, models: [{ ...model, provider: "nope" }] })).toContain("models.m.provider");
    expect(fails({ ...base, models: [{ ...model, provider: "p", deployments: [{ provider: "p" }] }] })).toContain("either provider or deployments");
    expect(fails({ ...base, models: [model] })).toContain("needs provider or deployments");
  });

  test("several upstream keys: a list, or a comma list in the env var", () => {
    const c = loadConfig({
      env: { P_KEYS: "k1, k2,k3" },
      overrides: { providers: [{ id: "p", base_url: "http://p.test/v1", api_key_env: "P_KEYS" }], models: [{ ...model, provider: "p" }] },
    });
    expect(c.providers[0]!.api_keys).toEqual(["k1", "k2", "k3"]);
    expect(c.providers[0]!.api_key).toBe("k1");
    const d = loadConfig({ env: { XAI_API_KEY: "xai-a,xai-b" } });
    expect(d.providers[0]!.api_keys).toEqual(["xai-a", "xai-b"]);
    expect(d.models.find((m) => m.id === "grok-4")!.deployments).toEqual([{ provider: "xai", upstream_model: "grok-4.3", priority: 0, weight: 1 }]);
  });
});
