/**
 * The log and the error shape hold on the edges of routing: what a customer writes in `model`,
 * metered routes spelled with dot segments, stored responses the upstream answers unreadably, and
 * refusals made before the app under /v1/messages.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import type { MockUpstream } from "./support/fake-upstream";
import { parseRaw, raw, startLogged, type LoggedGateway } from "./support/logged-gateway";

setDefaultTimeout(60_000);

let gw: LoggedGateway;
let key: string;
beforeAll(async () => {
  gw = await startLogged({ idle_timeout_seconds: 1, timeouts: { body_ms: 1000 } });
  key = (await gw.customer(10_000_000)).key;
});
afterAll(async () => {
  await gw?.stop();
});

const CHAT = JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "x" }], max_tokens: 5 });
const head = (target: string, auth: string, extra = "") =>
  `POST ${target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${auth}\r\ncontent-type: application/json\r\n${extra}`;
const post = async (target: string, auth: string, body: string) =>
  parseRaw(await raw(gw.port, `${head(target, auth)}content-length: ${body.length}\r\nconnection: close\r\n\r\n`, body));

describe("what the log holds", () => {
  test("an unknown model is logged as null, never as the customer wrote it", async () => {
    const other = await gw.customer(0);
    const written = `my password is hunter2 and a key ${other.key} ${"lorem ipsum ".repeat(200)}`;
    const bodies: Record<string, unknown> = {
      "/v1/chat/completions": { model: written, messages: [{ role: "user", content: "x" }] },
      "/v1/messages": { model: written, max_tokens: 5, messages: [{ role: "user", content: "x" }] },
      "/v1/responses": { model: written, input: "x" },
    };
    for (const [path, body] of Object.entries(bodies)) {
      const res = await fetch(gw.url + path, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      expect(res.status).toBe(404);
      expect(gw.requestLines(res.headers.get("x-request-id")!)).toMatchObject([{ status: 404, model: null, error_code: "model_not_found" }]);
    }
    const known = await fetch(gw.url + "/v1/chat/completions", { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: CHAT });
    await known.text();
    await Bun.sleep(20);
    expect(gw.requestLines(known.headers.get("x-request-id")!)).toMatchObject([{ status: 200, model: "grok-4" }]);
    expect(gw.out()).not.toContain("hunter2");
    expect(gw.out()).not.toContain(other.key);
  });
});

describe("a client that leaves before admission", () => {
  test("mid-body: one line with 499 client_closed, not a 400", async () => {
    const seen = gw.lines().filter((l) => l.msg === "request").length;
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: gw.port, socket: { data() {} } });
    socket.write(`${head("/v1/chat/completions", key)}content-length: ${CHAT.length}\r\n\r\n${CHAT.slice(0, 20)}`);
    await Bun.sleep(100);
    socket.end();
    let added: Record<string, unknown>[] = [];
    for (let i = 0; i < 50 && added.length === 0; i++) {
      await Bun.sleep(20);
      added = gw.lines().filter((l) => l.msg === "request").slice(seen);
    }
    expect(added).toMatchObject([{ status: 499, error_code: "client_closed", endpoint: "chat.completions" }]);
  });
});

describe("a metered route spelled with dot segments", () => {
  test("is served by the metered handler: one request line, charged once", async () => {
    for (const target of ["/v1/./chat/completions", "/v1/x/../chat/completions", "/v1/%2e/chat/completions"]) {
      const r = await post(target, key, CHAT);
      expect(r.status).toBe(200);
      await Bun.sleep(20);
      expect(gw.requestLines(r.headers["x-request-id"]!)).toHaveLength(1);
    }
    const refused = await post("/v1/./chat/completions", "sk-tg-wrong", CHAT);
    expect(refused.status).toBe(401);
    expect(gw.requestLines(refused.headers["x-request-id"]!)).toHaveLength(1);
  });

  test("checks the key before the body: a wrong key with a stalled body is a 401 at once", async () => {
    const started = performance.now();
    const r = parseRaw(await raw(gw.port, `${head("/v1/./chat/completions", "sk-tg-wrong", "transfer-encoding: chunked\r\n")}\r\n1\r\n{\r\n`, "", { waitMs: 5_000 }));
    expect(r.status).toBe(401);
    expect(performance.now() - started).toBeLessThan(4_500);
  });

  test("streams past idle_timeout_seconds to [DONE] (the idle timer is off for admitted requests)", async () => {
    const body = JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "x" }], max_tokens: 30, stream: true, mock: { completion_tokens: 8, chunk_delay_ms: 250 } });
    const r = await post("/v1/./chat/completions", key, body);
    expect(r.status).toBe(200);
    expect(r.body).toContain("[DONE]");
  });
});

describe("refusals before the app under /v1/messages", () => {
  // Its own gateway: Bun's idle timer (1 s above, checked every 4 s) could close a slow body first.
  let gw: LoggedGateway;
  let key: string;
  beforeAll(async () => {
    gw = await startLogged({ timeouts: { body_ms: 1000 }, max_body_bytes: 64 * 1024 });
    key = (await gw.customer(10_000_000)).key;
  });
  afterAll(() => gw?.stop());

  test("the SDK's other routes are a 404 in Anthropic's shape, with request-id, their bodies never read", async () => {
    const big = await fetch(gw.url + "/v1/messages/count_tokens", { method: "POST", headers: { "x-api-key": key, "content-type": "application/json" }, body: "x".repeat(100 * 1024) });
    expect(big.status).toBe(404);
    expect(((await big.json()) as { type: string; error: { type: string } })).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    expect(big.headers.get("request-id")).toStartWith("req_");
    // A body that never finishes: answered once the short wait for its rest (timeouts.body_ms) is over.
    const slow = parseRaw(await raw(gw.port, `POST /v1/messages/batches HTTP/1.1\r\nhost: x\r\nx-api-key: ${key}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n1\r\n{\r\n`, "", { waitMs: 3_000 }));
    expect(slow.status).toBe(404);
    expect(JSON.parse(slow.body)).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    expect(slow.headers["request-id"]).toStartWith("req_");
    const e = (await new Anthropic({ baseURL: gw.url, apiKey: key, maxRetries: 0 }).messages
      .countTokens({ model: "grok-4", messages: [{ role: "user", content: "y".repeat(100 * 1024) }] })
      .then(() => null, (x: unknown) => x)) as InstanceType<typeof Anthropic.APIError>;
    expect(e.status).toBe(404);
    expect(e.requestID).toStartWith("req_");
  });
});

describe("stored responses the upstream answers unreadably", () => {
  let mode = "garbage";
  const up = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method === "POST" && path === "/v1/responses") {
        const output = [{ type: "message", role: "assistant", content: [{ type: "output_text", text: "hi" }] }];
        return Response.json({ id: `resp_${crypto.randomUUID()}`, object: "response", status: "completed", model: "grok-4", output, usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 } });
      }
      const answers: Record<string, () => Response> = {
        garbage: () => new Response("The capital of France is SECRET-COMPLETION", { headers: { "content-type": "application/json" } }),
        null: () => Response.json(null),
        cut: () => new Response('{"id":"resp_x","object":"resp', { headers: { "content-type": "application/json" } }),
        "500": () => Response.json({ error: { message: "boom" } }, { status: 500 }),
      };
      return answers[mode]!();
    },
  });
  let stored: LoggedGateway;
  beforeAll(async () => {
    stored = await startLogged({}, { upstream: { url: `http://127.0.0.1:${up.port}/v1` } as MockUpstream });
  });
  afterAll(async () => {
    await stored?.stop();
    up.stop(true);
  });

  test("502 upstream_malformed (never a 500 the SDK retries), and failures logged as upstream_failure", async () => {
    const c = await stored.customer(10_000_000);
    const oa = new OpenAI({ baseURL: `${stored.url}/v1`, apiKey: c.key, maxRetries: 0 });
    for (const m of ["garbage", "null", "cut"]) {
      mode = "garbage";
      const r = await oa.responses.create({ model: "grok-4", input: "x", max_output_tokens: 5 });
      mode = m;
      for (const call of [() => oa.responses.retrieve(r.id), () => oa.responses.inputItems.list(r.id), () => oa.responses.delete(r.id)]) {
        const e = (await (call() as Promise<unknown>).then(() => null, (x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
        expect([e?.status, (e?.error as { code?: string })?.code]).toEqual([502, "upstream_malformed"]);
      }
    }
    mode = "garbage";
    const r = await oa.responses.create({ model: "grok-4", input: "x", max_output_tokens: 5 });
    mode = "500";
    const failed = (await oa.responses.retrieve(r.id).then(() => null, (x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
    expect(failed.status).toBe(502);
    expect(stored.lines().filter((l) => l.msg === "upstream_failure" && l.request_id === failed.requestID)).toMatchObject([{ status: 500, counted: false }]);
    expect(stored.out()).not.toContain("SECRET-COMPLETION");
  });
});

describe("a deferred completion in the log", () => {
  test("one request line with the status its client got; its charge is a deferred_settled event", async () => {
    const h = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const body = { model: "grok-4", deferred: true, max_tokens: 5, messages: [{ role: "user", content: "x" }], mock: { deferred_ms: 20 } };
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: h, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    const { request_id: id } = (await res.json()) as { request_id: string };
    await Bun.sleep(60);
    const got = await fetch(`${gw.url}/v1/chat/deferred-completion/${id}`, { headers: h });
    expect(got.status).toBe(200);
    await got.text();
    expect(gw.requestLines(id)).toEqual([expect.objectContaining({ status: 200, deferred: true })]);
    expect(gw.lines().filter((l) => l.msg === "deferred_settled" && l.request_id === id)).toEqual([expect.objectContaining({ status: 200, charge_micros: expect.any(Number) })]);
  });
});
