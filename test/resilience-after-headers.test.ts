import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chat, until, user } from "./support/chat";
import { FAST, gatewayOver } from "./support/resilience";
import type { Gateway } from "./support/gateway";

/**
 * Failures that come after the upstream's 200 headers (a stream cut short, malformed stream data,
 * a stall cut by stream_gap_ms, a whole answer whose body breaks or that is no answer at all, such
 * as an error envelope sent with a 200) are the upstream's failures: each
 * request is one verdict for its key's breaker, given when the body ends, so a run of them opens
 * the breaker by the streak rule and the admin view shows every one as a failure (never a success
 * at the headers followed by a failure, which reset the streak every time). A deployment that keeps
 * failing so is then failed over.
 */
setDefaultTimeout(30_000);

type Mode = "incomplete" | "malformed" | "stall" | "whole_broken" | "envelope" | "healthy";
let mode: Mode = "incomplete";
let calls = 0;
const enc = new TextEncoder();
const chunk = (content: string) => `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", model: "m", choices: [{ index: 0, delta: { content } }] })}\n\n`;
const USAGE = `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", model: "m", choices: [], usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 } })}\n\n`;

/** 200 headers every time; what follows depends on `mode`. */
function body(m: Mode): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      ctrl.enqueue(enc.encode(chunk("Hel")));
      if (m === "malformed") ctrl.enqueue(enc.encode("data: {not json\n\n"));
      if (m === "stall") return; // never another byte
      if (m === "healthy") ctrl.enqueue(enc.encode(USAGE + "data: [DONE]\n\n"));
      ctrl.close();
    },
  });
}

const upstream = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  idleTimeout: 0,
  fetch: async (req) => {
    calls++;
    await req.text();
    if (mode === "envelope") return Response.json({ error: { message: "Internal error", type: "server_error" } });
    return new Response(body(mode), { headers: { "content-type": "text/event-stream" } });
  },
});
// A whole answer whose connection drops after its headers and part of its body.
const dropping = Bun.listen({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    data(s, d) {
      if (!d.toString().includes("\r\n\r\n")) return;
      calls++;
      s.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"id":"c1","object":"chat.comp');
    },
  },
});
const gateways: Gateway[] = [];
afterEach(async () => {
  for (const g of gateways.splice(0)) await g.stop();
});
afterAll(() => {
  upstream.stop(true);
  dropping.stop(true);
});

/** One key, the streak rule only (3 in a row), one account suffices. */
async function gateway(cooldownMs = 30_000): Promise<Gateway> {
  const port = mode === "whole_broken" ? dropping.port : upstream.port;
  const g = await gatewayOver([{ id: "xai", url: `http://127.0.0.1:${port}/v1`, keys: ["xai-primarykey0001"] }], {
    timeouts: { ...FAST.timeouts, stream_gap_ms: 300 },
    retry: { ...FAST.retry, max_attempts: 1 },
    breaker: { failures: 3, min_accounts: 1, min_requests: 1_000_000, failure_rate: 1, window_ms: 60_000, cooldown_ms: cooldownMs },
  });
  gateways.push(g);
  return g;
}

type View = { data: { id: string; state: string; in_flight: number; times_opened: number; failures: number; requests: number; recent: { requests: number; failures: number; error_rate: number }; last_error: string | null }[] };
const keyView = async (g: Gateway) => ((await (await g.admin("/admin/upstreams")).json()) as View).data[0]!;

/** Status of one request and the error code it ended with (in the body or the stream's error event). */
async function ask(g: Gateway, key: string, stream: boolean): Promise<string> {
  const res = await chat(g.url, key, { model: "grok-4", messages: user(), stream });
  const text = await res.text();
  return `${res.status}:${/"code":"([a-z_]+)"/.exec(text)?.[1] ?? "ok"}`;
}

describe("failures after the headers open the breaker", () => {
  const cases: [Mode, boolean, string][] = [
    ["incomplete", true, "200:upstream_stream_incomplete"],
    ["malformed", true, "200:upstream_malformed"],
    ["stall", true, "200:upstream_timeout"],
    ["whole_broken", false, "502:upstream_body_broken"],
  ];
  for (const [m, stream, ending] of cases) {
    test(`five requests in a row ending ${ending}: the third opens the breaker, the rest get 503 without reaching the upstream`, async () => {
      mode = m;
      const g = await gateway();
      const c = await g.customer(10_000_000);
      const before = calls;
      const ends: string[] = [];
      for (let i = 0; i < 5; i++) ends.push(await ask(g, c.key, stream));
      const t = await keyView(g);
      expect(ends).toEqual([ending, ending, ending, "503:upstream_unavailable", "503:upstream_unavailable"]);
      expect(calls - before).toBe(3);
      expect({ state: t.state, times_opened: t.times_opened, failures: t.failures, recent: t.recent }).toEqual({
        state: "open",
        times_opened: 1,
        failures: 3,
        recent: { window_seconds: 60, requests: 3, failures: 3, error_rate: 1 } as never,
      });
    });
  }

  test("half-open: a probe whose stream breaks after its headers reopens the breaker; one that completes closes it", async () => {
    mode = "incomplete";
    const g = await gateway(500);
    const c = await g.customer(10_000_000);
    for (let i = 0; i < 3; i++) await ask(g, c.key, true);
    expect((await keyView(g)).state).toBe("open");
    expect(await until(async () => (await keyView(g)).state === "half_open", 5_000, 50)).toBe(true);
    expect(await ask(g, c.key, true)).toBe("200:upstream_stream_incomplete");
    expect(await keyView(g)).toMatchObject({ state: "open", times_opened: 2, failures: 4 });

    mode = "healthy";
    expect(await until(async () => (await keyView(g)).state === "half_open", 5_000, 50)).toBe(true);
    expect(await ask(g, c.key, true)).toBe("200:ok");
    expect(await keyView(g)).toMatchObject({ state: "closed", times_opened: 2, failures: 4 });
    expect(await ask(g, c.key, true)).toBe("200:ok");
  });

  test("a client that leaves mid-stream counts neither way: the streak of the upstream's failures goes on", async () => {
    mode = "stall";
    const g = await gateway();
    const c = await g.customer(10_000_000);
    expect(await ask(g, c.key, true)).toBe("200:upstream_timeout");
    // The client reads the first chunk and leaves before the gap timeout.
    const ctl = new AbortController();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), stream: true }, { signal: ctl.signal });
    await res.body!.getReader().read();
    ctl.abort();
    expect(await until(async () => (await keyView(g)).in_flight === 0, 3_000, 20)).toBe(true);
    expect((await keyView(g)).recent).toMatchObject({ requests: 1, failures: 1 });
    expect(await ask(g, c.key, true)).toBe("200:upstream_timeout");
    expect((await keyView(g)).state).toBe("closed");
    expect(await ask(g, c.key, true)).toBe("200:upstream_timeout");
    expect(await keyView(g)).toMatchObject({ state: "open", failures: 3, recent: { requests: 3, failures: 3 } });
  });
});

describe("a whole answer the gateway cannot read counts against its upstream", () => {
  const answer = { id: "c1", object: "chat.completion", model: "m", choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 } };
  let backupCalls = 0;
  const backup = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => (backupCalls++, Response.json(answer)) });
  afterAll(() => backup.stop(true));

  test("a primary answering 200 with an error envelope: 502 upstream_malformed until its breaker opens, then the fallback answers", async () => {
    mode = "envelope";
    const g = await gatewayOver(
      [
        { id: "xai", url: `http://127.0.0.1:${upstream.port}/v1`, keys: ["xai-primarykey0001"] },
        { id: "backup", url: `http://127.0.0.1:${backup.port}/v1`, keys: ["xai-backupkey0001"] },
      ],
      { breaker: { failures: 3, min_accounts: 1, min_requests: 1_000_000, window_ms: 60_000, cooldown_ms: 30_000 } },
    );
    gateways.push(g);
    const c = await g.customer(10_000_000);
    const ends: string[] = [];
    for (let i = 0; i < 6; i++) ends.push(await ask(g, c.key, false));
    expect(ends).toEqual(["502:upstream_malformed", "502:upstream_malformed", "502:upstream_malformed", "200:ok", "200:ok", "200:ok"]);
    expect(backupCalls).toBe(3);
    const primary = ((await (await g.admin("/admin/upstreams")).json()) as View).data.find((t) => t.id === "xai#1")!;
    expect({ state: primary.state, failures: primary.failures, recent: primary.recent.failures, last_error: primary.last_error }).toEqual({
      state: "open",
      failures: 3,
      recent: 3,
      last_error: "upstream_malformed",
    });
  });
});
