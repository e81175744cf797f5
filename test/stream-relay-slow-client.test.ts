/**
 * A stream's gap timeout (timeouts.stream_gap_ms) is the upstream's silence while the gateway waits
 * on it: a client that pauses longer between two reads (a slow consumer, backpressure) gets the
 * rest of an answer the upstream already sent, and the breaker hears nothing against the upstream.
 */
import { expect, test } from "bun:test";
import { adapters } from "../src/gateway/providers/adapters";
import { ChatTap } from "../src/gateway/dialects/chat-tap";
import { StreamRelay } from "../src/gateway/stream-relay";
import type { BodyEnd } from "../src/gateway/upstream/call-types";

const enc = new TextEncoder();
const chunk = (c: string) => `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"${c}"},"finish_reason":null}]}\n\n`;
const USAGE = 'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}\n\n';

test("a client that pauses longer than stream_gap_ms is not cut with an upstream gap timeout", async () => {
  const up = new Response(
    new ReadableStream<Uint8Array>({
      start(ctrl) {
        for (const e of [chunk("a"), chunk("b"), chunk("c"), USAGE, "data: [DONE]\n\n"]) ctrl.enqueue(enc.encode(e));
        ctrl.close();
      },
    }),
  );
  const finishes: { status: number; code: string | null }[] = [];
  let ended: BodyEnd | undefined;
  const res = new StreamRelay({
    upstream: up,
    tap: new ChatTap({ adapter: adapters.openai, clientWantsUsage: true, price: (u) => u.prompt + u.completion }),
    finish: async (status, code) => void finishes.push({ status, code }),
    errorEvent: (message, code) => `data: ${JSON.stringify({ error: { message, code } })}\n\n`,
    abort: () => {},
    clientAborted: () => false,
    headers: {},
    gapMs: 200,
    onEnd: (how) => (ended = how),
  }).response();
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = dec.decode((await reader.read()).value);
  await Bun.sleep(400); // the client is slow; the upstream was never silent
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    text += dec.decode(r.value);
  }
  expect(text).not.toContain("upstream_timeout");
  expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
  expect(finishes).toEqual([{ status: 200, code: null }]);
  expect(ended).toBe("complete"); // the breaker hears a success, nothing against the upstream
});
