import { afterAll, describe, expect, test } from "bun:test";
import { adapters } from "../src/gateway/providers/adapters";
import { ChatTap } from "../src/gateway/dialects/chat-tap";
import { StreamRelay, type StreamOptions } from "../src/gateway/stream-relay";

/**
 * The stream relay while the upstream is silent: keep-alive comments go out without ending the
 * read in progress (the answer arrives whole afterwards), and a gap timeout, the total deadline
 * or shutdown cuts that read and ends the stream with its error event, charged once. Served over
 * real HTTP on loopback, read by fetch as a client would.
 */
const enc = new TextEncoder();
const chunk = (delta: string) => `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":${delta},"finish_reason":null}]}\n\n`;
const USAGE = 'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n';

/** An upstream that sends `first`, stays silent for `silenceMs` (for ever when null), then sends `rest`. */
function upstream(first: string[], silenceMs: number | null, rest: string[], aborted: { n: number }): Response {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (const e of first) ctrl.enqueue(enc.encode(e));
      if (silenceMs === null) return;
      timer = setTimeout(() => {
        for (const e of rest) ctrl.enqueue(enc.encode(e));
        ctrl.close();
      }, silenceMs);
    },
    cancel() {
      clearTimeout(timer);
      aborted.n++;
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}

type Finish = { status: number; code: string | null };
const servers: { stop(close?: boolean): void }[] = [];
afterAll(() => servers.forEach((s) => s.stop(true)));

/** Serves one relay built from `o` and returns what a client read, and the finish calls. */
async function relay(up: Response, o: Partial<StreamOptions>, whileReading?: (end: () => void) => void) {
  const finishes: Finish[] = [];
  const aborts = { n: 0 };
  let terminate: () => void = () => {};
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () =>
      new StreamRelay({
        upstream: up,
        tap: new ChatTap({ adapter: adapters.openai, clientWantsUsage: true, price: (u) => u.prompt + u.completion }),
        finish: async (status, code) => void finishes.push({ status, code }),
        errorEvent: (message, code) => `data: ${JSON.stringify({ error: { message, code } })}\n\n`,
        abort: () => void aborts.n++,
        clientAborted: () => false,
        headers: {},
        onTerminate: (end) => (terminate = end),
        ...o,
      }).response(),
  });
  servers.push(server);
  const res = await fetch(`http://127.0.0.1:${server.port}/`);
  whileReading?.(() => terminate());
  const text = await res.text();
  return { text, finishes, aborts: aborts.n };
}

describe("stream relay timers", () => {
  test("keep-alive comments go out during a silence; the answer then arrives whole and is charged once", async () => {
    const up = upstream([chunk('{"role":"assistant","content":""}')], 300, [chunk('{"content":"hi"}'), USAGE, "data: [DONE]\n\n"], { n: 0 });
    const { text, finishes } = await relay(up, { keepaliveMs: 40, gapMs: 5_000 });
    // During the 300 ms silence between the first chunk and the next (one may also come before
    // the first chunk on a busy machine: the relay starts its timer with the response).
    const silence = text.slice(text.indexOf('"role"'), text.indexOf('"content":"hi"'));
    expect(silence.split(": keep-alive\n\n").length - 1).toBeGreaterThanOrEqual(3);
    expect(text.lastIndexOf(": keep-alive")).toBeLessThan(text.indexOf('"content":"hi"'));
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(text).toContain('"usage"');
    expect(finishes).toEqual([{ status: 200, code: null }]);
  });

  test("a silence past the gap cuts the read: a 504 error event, charged for what was delivered, the upstream aborted", async () => {
    const up = upstream([chunk('{"role":"assistant","content":"hello"}')], null, [], { n: 0 });
    const { text, finishes, aborts } = await relay(up, { keepaliveMs: 40, gapMs: 200 });
    expect(text).toContain(": keep-alive");
    expect(text).toContain('"code":"upstream_timeout"');
    expect(text).toContain("sent nothing for");
    expect(text).not.toContain("[DONE]");
    expect(finishes).toEqual([{ status: 504, code: "upstream_timeout" }]);
    expect(aborts).toBeGreaterThanOrEqual(1);
  });

  test("the total deadline cuts a read in progress, even while keep-alives flow", async () => {
    const up = upstream([chunk('{"role":"assistant","content":"hello"}')], null, [], { n: 0 });
    const { text, finishes } = await relay(up, { keepaliveMs: 40, gapMs: 60_000, deadline: performance.now() + 250 });
    expect(text).toContain(": keep-alive");
    expect(text).toContain("longer than the gateway's time limit");
    expect(finishes).toEqual([{ status: 504, code: "upstream_timeout" }]);
  });

  test("shutdown cuts a read in progress: the client is told to retry, once", async () => {
    const up = upstream([chunk('{"role":"assistant","content":"hello"}')], null, [], { n: 0 });
    const { text, finishes } = await relay(up, { keepaliveMs: 40, gapMs: 60_000 }, (end) => setTimeout(end, 150));
    expect(text).toContain('"code":"server_shutting_down"');
    expect(finishes).toEqual([{ status: 503, code: "server_shutting_down" }]);
  });
});
