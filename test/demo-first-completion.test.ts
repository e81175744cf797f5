/**
 * The demo's first streamed completion reads whole events: an event cut across reads (as any
 * socket may deliver it) is joined before it is parsed, not taken for a broken line.
 */
import { afterAll, expect, test } from "bun:test";
import { firstCompletion } from "../src/cli/demo";

const enc = new TextEncoder();
const chunk = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;
const stream = chunk("Hello") + chunk(", operator") + `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 3 } })}\n\n` + "data: [DONE]\n\n";

// Every event cut in two, the halves sent a moment apart (separate reads for the client).
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch() {
    const body = new ReadableStream<Uint8Array>({
      async start(ctrl) {
        for (const event of stream.split(/(?<=\n\n)/)) {
          const cut = Math.floor(event.length / 2);
          ctrl.enqueue(enc.encode(event.slice(0, cut)));
          await Bun.sleep(20);
          ctrl.enqueue(enc.encode(event.slice(cut)));
          await Bun.sleep(20);
        }
        ctrl.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  },
});
afterAll(() => server.stop(true));

test("events cut across reads are joined: the whole text, no parse error", async () => {
  expect(await firstCompletion(`http://127.0.0.1:${server.port}/v1`, "sk-demo")).toBe("Hello, operator");
});
