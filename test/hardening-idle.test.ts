/**
 * A metered request switches Bun's idle timer off while it is served (first tokens can take
 * minutes); once its response is done the timer is on again, so a kept-alive connection left
 * idle after a chat request is closed like any other, and one customer cannot keep thousands
 * of sockets (and file descriptors) open.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import net from "node:net";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);

let gw: Gateway;
let c: Customer;
beforeAll(async () => {
  gw = await startGateway({ upstream: true, config: { idle_timeout_seconds: 1, max_body_bytes: 8 * 1024 * 1024 } });
  c = await gw.customer(1_000_000_000);
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

/** A whole answer of about 12 MB, read a chunk every 400 ms for 12 s: whether the server cut it meanwhile. */
async function slowRead(): Promise<{ declared: number; cut: boolean }> {
  const body = JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "x" }], max_tokens: 100, n: 120, mock: { text: "y".repeat(100_000), completion_tokens: 10 } });
  const port = Number(new URL(gw.url).port);
  return await new Promise((resolve) => {
    let bytes = 0;
    let head = "";
    let declared = -1;
    let headerEnd = -1;
    const s = net.connect(port, "127.0.0.1", () => {
      s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${c.key}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    const timer = setTimeout(() => {
      s.removeAllListeners("close");
      s.destroy();
      resolve({ declared, cut: false });
    }, 12_000);
    s.on("data", (d: Buffer) => {
      bytes += d.length;
      if (headerEnd < 0) {
        head += d.toString("latin1");
        const i = head.indexOf("\r\n\r\n");
        if (i >= 0) (headerEnd = i + 4), (declared = Number(/content-length: (\d+)/i.exec(head.slice(0, i))?.[1] ?? -1));
      }
      s.pause();
      setTimeout(() => s.resume(), 400);
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ declared, cut: declared < 0 || bytes < headerEnd + declared });
    });
  });
}

describe("a large whole answer read slowly but steadily", () => {
  test("is given time for its size: not cut by the idle timer once charged", async () => {
    const got = await slowRead();
    expect(got.declared).toBeGreaterThan(10_000_000);
    expect(got.cut).toBe(false);
  });
});
