/**
 * An upstream that ends its SSE lines with a bare \r (allowed by the SSE format): each event
 * reaches the client as soon as its blank line arrives, not when the upstream sends more, and
 * the stream is charged its usage as usual.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chat } from "./support/chat";
import { fakeCatalogue, SINGLE_SHOT } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);

const chunk = (delta: Record<string, unknown>, usage?: Record<string, number>) =>
  `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", model: "grok-4-0709", choices: usage ? [] : [{ index: 0, delta }], ...(usage ? { usage } : {}) })}\r\r`;

let release: () => void = () => {};
let upstream: ReturnType<typeof Bun.serve>;
let gw: Gateway;

beforeAll(async () => {
  upstream = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch() {
      const enc = new TextEncoder();
      const held = new Promise<void>((r) => (release = r));
      const body = new ReadableStream<Uint8Array>({
        async start(ctrl) {
          ctrl.enqueue(enc.encode(chunk({ role: "assistant", content: "Hello" })));
          // The upstream pauses after a whole event, as a model thinking would.
          await held;
          ctrl.enqueue(enc.encode(chunk({ content: " there" }) + chunk({}, { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 }) + "data: [DONE]\r\r"));
          ctrl.close();
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    },
  });
  gw = await startGateway({ config: { ...fakeCatalogue(`http://127.0.0.1:${upstream.port}`), ...SINGLE_SHOT } });
});
afterAll(async () => {
  release();
  await gw?.stop();
  upstream?.stop(true);
});

test("an event ended by \\r\\r is forwarded while the upstream pauses; the stream is charged its usage", async () => {
  const c = await gw.customer(1_000_000);
  const dec = new TextDecoder();
  let seen = "";
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  // Held until more bytes came, the first event would not arrive (nor the answer's head, which
  // waits for it) before the upstream resumes.
  const first = await Promise.race([
    (async () => {
      const res = await chat(gw.url, c.key, { model: "grok-4", stream: true, messages: [{ role: "user", content: "hi" }] });
      expect(res.status).toBe(200);
      reader = res.body!.getReader();
      while (!seen.includes("Hello")) {
        const r = await reader.read();
        if (r.done) break;
        seen += dec.decode(r.value, { stream: true });
      }
      return seen.includes("Hello") ? "delivered" : "ended";
    })(),
    Bun.sleep(5_000).then(() => "held"),
  ]);
  release();
  expect(first).toBe("delivered");
  for (;;) {
    const r = await reader!.read();
    if (r.done) break;
    seen += dec.decode(r.value, { stream: true });
  }
  expect(seen).toContain(" there");
  expect(seen.trimEnd().endsWith("data: [DONE]")).toBe(true);
  // 7 prompt tokens at 3 micros, 2 completion tokens at 15.
  const me = (await (await fetch(`${gw.url}/v1/me`, { headers: { authorization: `Bearer ${c.key}` } })).json()) as { balance_micros: number };
  expect(me.balance_micros).toBe(1_000_000 - (7 * 3 + 2 * 15));
});
