/**
 * An upstream that closes without its terminal event is done only if its answer is whole (chat:
 * every choice finished, or the usage-only chunk came; Messages: a stop_reason), whatever usage it
 * reported on the way: upstreams that report cumulative usage on every chunk (vLLM's continuous
 * usage and some OpenAI-compatible hosts) would otherwise make a cut answer look complete. A whole
 * Messages answer gets its message_stop made up, as chat gets its [DONE].
 */
import { afterAll, expect, test } from "bun:test";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { adapters } from "../src/gateway/providers/adapters";
import { ChatTap } from "../src/gateway/dialects/chat-tap";
import { MessagesTap } from "../src/gateway/dialects/messages-tap";
import { chatDialect } from "../src/gateway/dialects/chat";
import { messagesDialect } from "../src/gateway/dialects/messages";
import { StreamRelay } from "../src/gateway/stream-relay";
import type { EventTap } from "../src/gateway/dialects/types";
import type { BodyEnd } from "../src/gateway/upstream/call-types";

const enc = new TextEncoder();
const servers: { stop(c?: boolean): void }[] = [];
afterAll(() => servers.forEach((s) => s.stop(true)));

function serve(events: string[], tap: () => EventTap, errorEvent: (m: string, c: string, t?: EventTap) => string) {
  const finishes: { status: number; code: string | null }[] = [];
  const ends: BodyEnd[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () =>
      new StreamRelay({
        // The upstream connection closes here, without its terminal event.
        upstream: new Response(new ReadableStream<Uint8Array>({ start(c) { for (const e of events) c.enqueue(enc.encode(e)); c.close(); } })),
        tap: tap(),
        finish: async (status, code) => void finishes.push({ status, code }),
        errorEvent,
        abort: () => {},
        clientAborted: () => false,
        headers: {},
        onEnd: (f) => void ends.push(f),
      }).response(),
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}`, finishes, ends };
}

test("chat: a stream cut mid-answer is not presented as complete because a chunk carried usage", async () => {
  const c = (s: string, n: number) => `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"${s}"},"finish_reason":null}],"usage":{"prompt_tokens":5,"completion_tokens":${n},"total_tokens":${5 + n}}}\n\n`;
  const { url, finishes, ends } = serve([c("The ", 1), c("answer ", 2), c("is", 3)], () => new ChatTap({ adapter: adapters.openai, clientWantsUsage: true, price: () => 1 }), chatDialect.errorEvent);
  const client = new OpenAI({ baseURL: url, apiKey: "x", maxRetries: 0 });
  let text = "";
  let error: unknown = null;
  try {
    const s = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "q" }], stream: true });
    for await (const ch of s) text += ch.choices[0]?.delta?.content ?? "";
  } catch (e) {
    error = e;
  }
  expect(text).toBe("The answer is");
  expect(finishes[0]?.status).not.toBe(200);
  expect(error).not.toBeNull();
  // The breaker hears a failure of the upstream, never a success.
  expect(ends[0]).toEqual({ failure: "upstream_stream_incomplete" });
});

test("messages: an upstream that closes after message_delta without message_stop", async () => {
  const ev = (t: string, d: unknown) => `event: ${t}\ndata: ${JSON.stringify(d)}\n\n`;
  const events = [
    ev("message_start", { type: "message_start", message: { id: "msg_1", type: "message", role: "assistant", model: "m", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 } } }),
    ev("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
    ev("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hello" } }),
    ev("content_block_stop", { type: "content_block_stop", index: 0 }),
    ev("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 2 } }),
  ];
  const { url, finishes } = serve(events, () => new MessagesTap({ adapter: adapters.openai, clientWantsUsage: true, price: () => 1 }), messagesDialect.errorEvent);
  const raw = await (await fetch(url)).text();
  expect(raw.endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n')).toBe(true);
  expect(finishes).toEqual([{ status: 200, code: null }]);
});
