/**
 * A metered request switches Bun's idle timer off while it is served (first tokens can take
 * minutes); once its response is done the timer is on again, so a kept-alive connection left
 * idle after a chat request is closed like any other, and one customer cannot keep thousands
 * of sockets (and file descriptors) open.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);

let gw: Gateway;
let c: Customer;
beforeAll(async () => {
  gw = await startGateway({ upstream: true, config: { idle_timeout_seconds: 1 } });
  c = await gw.customer(10_000_000);
});
afterAll(() => gw?.stop());

/** One request on a kept-alive socket; resolves with whether the server closed it within `waitMs` after the answer. */
async function closedAfter(path: string, body: string, waitMs: number, headers = ""): Promise<{ answered: boolean; closed: boolean }> {
  const port = new URL(gw.url).port;
  let text = "";
  let closed = false;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: Number(port),
    socket: {
      data: (_s, d) => void (text += d.toString()),
      close: () => void (closed = true),
      error: () => void (closed = true),
    },
  });
  socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${c.key}\r\ncontent-type: application/json\r\n${headers}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const until = performance.now() + 10_000;
  // The answer is complete: a whole body of its length, or a stream's last event.
  const done = () => text.includes("[DONE]") || (/\r\ncontent-length: (\d+)/i.test(text) && text.length >= text.indexOf("\r\n\r\n") + 4 + Number(/\r\ncontent-length: (\d+)/i.exec(text)![1]));
  while (!done() && !closed && performance.now() < until) await Bun.sleep(10);
  const answered = done();
  const deadline = performance.now() + waitMs;
  while (!closed && performance.now() < deadline) await Bun.sleep(50);
  const closedByServer = closed;
  socket.end();
  return { answered, closed: closedByServer };
}

describe("a kept-alive connection after a metered request", () => {
  test("is closed once idle for idle_timeout_seconds, after a whole answer and after a stream", async () => {
    const ask = (extra: Record<string, unknown>) => JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "x" }], max_tokens: 5, ...extra });
    // Bun's socket timers tick every 4 s: an idle timeout of 1 s closes within about 8 s.
    const [whole, stream, failed, responses] = await Promise.all([
      closedAfter("/v1/chat/completions", ask({}), 12_000),
      closedAfter("/v1/chat/completions", ask({ stream: true }), 12_000),
      closedAfter("/v1/chat/completions", ask({ mock: { status: 500 } }), 12_000),
      closedAfter("/v1/responses", JSON.stringify({ model: "grok-4", input: "x", max_output_tokens: 5 }), 12_000),
    ]);
    expect({ whole, stream, failed, responses }).toEqual({
      whole: { answered: true, closed: true },
      stream: { answered: true, closed: true },
      failed: { answered: true, closed: true },
      responses: { answered: true, closed: true },
    });
  });

  test("a stream longer than idle_timeout_seconds still reaches its end", async () => {
    const slow = JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "x" }], max_tokens: 30, stream: true, mock: { completion_tokens: 8, chunk_delay_ms: 300 } });
    expect((await closedAfter("/v1/chat/completions", slow, 3_000)).answered).toBe(true);
  });
});
