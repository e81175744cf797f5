import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ConfigError, loadConfig } from "../src/config/load";
import { chat, readSse, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";

/**
 * CORS on the customer API (/v1): preflights answered, allow headers on every response to an
 * allowed origin (chat, errors, streams, Elysia routes), nothing for other origins, for requests
 * without an Origin header or outside /v1, and nothing at all when it is turned off. The real
 * browser and the OpenAI SDK: test/browser-cors.test.ts.
 */
setDefaultTimeout(30_000);
const PAGE = "https://app.example";
const SDK_HEADERS = "authorization, content-type, x-stainless-os, x-stainless-lang, x-stainless-retry-count";

const preflight = (url: string, origin: string, headers = SDK_HEADERS) =>
  fetch(url, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": headers } });

describe("any origin (the default)", () => {
  let g: Gateway;
  let key: string;
  beforeAll(async () => {
    g = await startGateway({ upstream: true });
    key = (await g.customer()).key;
  });
  afterAll(() => g.stop());

  test("a preflight from any page is allowed, with the SDK's headers echoed", async () => {
    const res = await preflight(`${g.url}/v1/chat/completions`, PAGE);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("access-control-allow-headers")).toBe(SDK_HEADERS);
    expect(res.headers.get("access-control-max-age")).toBe("7200");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    // Not a plain list of header names: the default list, never the text asked for.
    const odd = await preflight(`${g.url}/v1/models`, PAGE, "x-a, (x-b)");
    expect(odd.headers.get("access-control-allow-headers")).toBe("authorization, content-type");
  });

  test("chat answers, streams and errors carry the allow and expose headers; calls without Origin carry none", async () => {
    const body = { model: "grok-4", messages: user() };
    const ok = await chat(g.url, key, body, { headers: { origin: PAGE } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("*");
    const exposed = ok.headers.get("access-control-expose-headers")!;
    for (const h of ["x-request-id", "x-ratelimit-remaining-tokens", "retry-after", "retry-after-ms", "x-should-retry"]) expect(exposed).toContain(h);
    expect(((await ok.json()) as { usage: { total_tokens: number } }).usage.total_tokens).toBeGreaterThan(0);

    const stream = await chat(g.url, key, { ...body, stream: true }, { headers: { origin: PAGE } });
    expect(stream.headers.get("access-control-allow-origin")).toBe("*");
    expect((await readSse(stream)).done).toBe(true);

    const denied = await chat(g.url, "sk-tg-not-a-key", body, { headers: { origin: PAGE } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get("access-control-allow-origin")).toBe("*");
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key");

    const server = await chat(g.url, key, body);
    expect(server.status).toBe(200);
    expect(server.headers.get("access-control-allow-origin")).toBeNull();
    await server.arrayBuffer();
  });

  test("other /v1 routes have it (answers and 404s); /admin and the pages do not", async () => {
    const models = await fetch(`${g.url}/v1/models`, { headers: { authorization: `Bearer ${key}`, origin: PAGE } });
    expect(models.status).toBe(200);
    expect(models.headers.get("access-control-allow-origin")).toBe("*");
    const unknown = await fetch(`${g.url}/v1/embeddings`, { method: "POST", headers: { authorization: `Bearer ${key}`, origin: PAGE } });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("access-control-allow-origin")).toBe("*");

    const admin = await g.admin("/admin/accounts", { headers: { origin: PAGE } });
    expect(admin.status).toBe(200);
    expect(admin.headers.get("access-control-allow-origin")).toBeNull();
    const adminPreflight = await preflight(`${g.url}/admin/accounts`, PAGE);
    expect(adminPreflight.headers.get("access-control-allow-origin")).toBeNull();
    const portal = await fetch(`${g.url}/portal/login`, { headers: { origin: PAGE } });
    expect(portal.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("a list of origins", () => {
  let g: Gateway;
  let key: string;
  beforeAll(async () => {
    g = await startGateway({ upstream: true, config: { cors_origins: [PAGE, "http://localhost:3000"] } });
    key = (await g.customer()).key;
  });
  afterAll(() => g.stop());

  test("a listed origin is echoed, with Vary: Origin; another gets no allow headers", async () => {
    const ok = await chat(g.url, key, { model: "grok-4", messages: user() }, { headers: { origin: "http://localhost:3000" } });
    expect(ok.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
    expect(ok.headers.get("vary")).toBe("Origin");
    await ok.arrayBuffer();
    const pre = await preflight(`${g.url}/v1/chat/completions`, PAGE);
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe(PAGE);

    const other = await chat(g.url, key, { model: "grok-4", messages: user() }, { headers: { origin: "https://evil.example" } });
    expect(other.status).toBe(200);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    await other.arrayBuffer();
    const otherPre = await preflight(`${g.url}/v1/chat/completions`, "https://evil.example");
    expect(otherPre.status).toBe(204);
    expect(otherPre.headers.get("access-control-allow-origin")).toBeNull();
    expect(otherPre.headers.get("access-control-allow-headers")).toBeNull();
  });

  test("errors answered before the app (a body over max_body_bytes on a route that is not metered) carry them too", async () => {
    const big = (origin: string) =>
      fetch(`${g.url}/v1/credits/redeem`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", origin },
        body: JSON.stringify({ code: "x".repeat(5 * 1024 * 1024) }),
      });
    const res = await big(PAGE);
    expect(res.status).toBe(413);
    expect(res.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(res.headers.get("access-control-expose-headers")).toContain("x-request-id");
    expect(res.headers.get("vary")).toBe("Origin");
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("request_too_large");
    const other = await big("https://evil.example");
    expect(other.status).toBe(413);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    // Not the customer API: no CORS, early error or not.
    const portal = await fetch(`${g.url}/portal/login`, { method: "POST", headers: { origin: PAGE }, body: "x".repeat(128 * 1024) });
    expect(portal.status).toBe(413);
    expect(portal.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("turned off", () => {
  test("no CORS headers, and a preflight is an unknown URL", async () => {
    const g = await startGateway({ upstream: true, config: { cors_origins: [] } });
    try {
      const { key } = await g.customer();
      const res = await chat(g.url, key, { model: "grok-4", messages: user() }, { headers: { origin: PAGE } });
      expect(res.status).toBe(200);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      await res.arrayBuffer();
      const pre = await preflight(`${g.url}/v1/chat/completions`, PAGE);
      expect(pre.status).toBe(404);
      expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await g.stop();
    }
  });
});

describe("configuration", () => {
  test("cors_origins: default any, a comma-separated env list, none, and a clear error for a URL with a path", () => {
    expect(loadConfig({ env: {} }).cors_origins).toEqual(["*"]);
    expect(loadConfig({ env: { TOLLGATE_CORS_ORIGINS: "https://a.example, http://localhost:5173" } }).cors_origins).toEqual([
      "https://a.example",
      "http://localhost:5173",
    ]);
    expect(loadConfig({ env: { TOLLGATE_CORS_ORIGINS: "none" } }).cors_origins).toEqual([]);
    expect(() => loadConfig({ env: { TOLLGATE_CORS_ORIGINS: "https://a.example/app" } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { TOLLGATE_CORS_ORIGINS: "https://a.example/app" } })).toThrow(/cors_origins.*TOLLGATE_CORS_ORIGINS|TOLLGATE_CORS_ORIGINS.*origin/);
  });
});
