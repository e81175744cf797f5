import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../src/runtime/app";
import { chat, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";

/**
 * POST /v1/chat/completions bypasses Elysia in the server (chat/route.ts, for speed), so the
 * duties the app's plugins have on every other route are checked here on the real server: request
 * id, body limit, key first, schema errors with `param`, the envelope with x-ratelimit-*, and no
 * money moved by a refused request. The Elysia route (app.handle) must give the same answers.
 */
let g: Gateway;
beforeAll(async () => {
  g = await startGateway({ upstream: true, config: { max_body_bytes: 8192 } });
});
afterAll(() => g.stop());

const post = (body: string, headers: Record<string, string> = {}, path = "/v1/chat/completions") =>
  fetch(`${g.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
const envelope = async (res: Response) => ((await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } }).error;

describe("refusals before the upstream", () => {
  test("the key is checked before the body: no key or a wrong key is 401 even for a broken body", async () => {
    const none = await post("{not json");
    expect(none.status).toBe(401);
    expect(none.headers.get("x-request-id")).toMatch(/^req_/);
    expect(await envelope(none)).toMatchObject({ code: "invalid_api_key", type: "invalid_request_error" });
    const wrong = await post("{not json", { authorization: "Bearer sk-wrong-key-0000" });
    expect(wrong.status).toBe(401);
    expect((await envelope(wrong)).message).toContain("sk-wro****0000");
  });

  test("broken JSON, a schema error and an oversized body are 400/400/413 with headers, and move no money", async () => {
    const c = await g.customer(5_000_000);
    const auth = { authorization: `Bearer ${c.key}` };
    const broken = await post("{not json", auth);
    expect(broken.status).toBe(400);
    expect(broken.headers.get("x-request-id")).toMatch(/^req_/);
    expect(broken.headers.get("x-ratelimit-limit-requests")).not.toBeNull();
    expect((await envelope(broken)).message).toContain("could not parse the JSON body");

    const noMessages = await post(JSON.stringify({ model: "grok-4" }), auth);
    expect(noMessages.status).toBe(400);
    expect(await envelope(noMessages)).toMatchObject({ type: "invalid_request_error", param: "messages" });
    const badTokens = await post(JSON.stringify({ model: "grok-4", messages: user(), max_tokens: -1 }), auth);
    expect(await envelope(badTokens)).toMatchObject({ param: "max_tokens" });

    const big = await post(JSON.stringify({ model: "grok-4", messages: user("x".repeat(9000)) }), auth);
    expect(big.status).toBe(413);
    expect(await envelope(big)).toMatchObject({ code: "request_too_large" });

    expect(await g.account(c.accountId)).toMatchObject({ balance_micros: 5_000_000, held_micros: 0 });
    expect(g.upstream.requests.length).toBe(0);
  });
});

describe("serving", () => {
  test("the path with a trailing slash and with a query string is the same route", async () => {
    const c = await g.customer(5_000_000);
    for (const path of ["/v1/chat/completions/", "/v1/chat/completions?api-version=1"]) {
      const res = await post(JSON.stringify({ model: "grok-4", messages: user(), max_tokens: 10 }), { authorization: `Bearer ${c.key}` }, path);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { object: string }).object).toBe("chat.completion");
    }
  });

  test("through app.handle (the Elysia route) a completion is proxied and charged the same way", async () => {
    const c = await g.customer(5_000_000);
    const app = createApp(g.runtime.deps);
    const res = await app.handle(
      new Request("http://local/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${c.key}` },
        body: JSON.stringify({ model: "grok-4", messages: user(), max_tokens: 10, mock: { prompt_tokens: 20, completion_tokens: 5 } }),
      }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    expect(res.headers.get("x-ratelimit-remaining-requests")).not.toBeNull();
    expect(((await res.json()) as { usage: { total_tokens: number } }).usage.total_tokens).toBe(25);
    expect((await g.account(c.accountId)).balance_micros).toBe(5_000_000 - (20 * 3 + 5 * 15));
    const viaApp = await app.handle(new Request("http://local/v1/chat/completions", { method: "POST", body: "{}" }));
    expect(viaApp.status).toBe(401);
    expect(viaApp.headers.get("x-request-id")).toMatch(/^req_/);
  });
});

test("the normal path still answers through the real server with the SDK-style client", async () => {
  const c = await g.customer(5_000_000);
  const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), max_tokens: 10 });
  expect(res.status).toBe(200);
});
