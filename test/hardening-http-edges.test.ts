/**
 * The HTTP layer's edges, over raw sockets (the framing exactly as a client sends it): a body
 * still arriving when the idle timeout is shorter than timeouts.body_ms is waited for (Bun's idle
 * timer does not count body bytes), and an answer the headers alone decide goes out at once to a
 * client waiting to send its body (`Expect: 100-continue`), with `connection: close` instead of
 * awaiting a body (Bun sends the "100 Continue" itself, before any handler runs).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import net from "node:net";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);

/** A raw connection: what it received, and whether/when the server closed it. */
function connect(port: number) {
  const s = net.connect(port, "127.0.0.1");
  const st = { text: "", closed: false, closedAt: 0, bytesRead: 0 };
  s.on("data", (d) => (st.text += d.toString("latin1")));
  s.on("close", () => {
    st.closed = true;
    st.closedAt = performance.now();
  });
  s.on("error", () => {});
  const ready = new Promise<void>((r) => s.on("connect", () => r()));
  return { s, st, ready };
}
const statusLines = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
const chatBody = JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "hi" }], max_tokens: 5 });

describe("idle timer vs a body that is still arriving", () => {
  let gw: Gateway;
  let c: Customer;
  beforeAll(async () => {
    // body_ms (20 s) well above idle_timeout_seconds (4 s): the body below is never idle and arrives within body_ms.
    gw = await startGateway({ upstream: true, config: { idle_timeout_seconds: 4, timeouts: { body_ms: 20_000 } } });
    c = await gw.customer(10_000_000);
  });
  afterAll(() => gw?.stop());

  test("a body uploaded steadily (a few bytes every 300 ms, 9 s in all, within timeouts.body_ms) is answered, not cut by the idle timer", async () => {
    const { s, st, ready } = connect(Number(new URL(gw.url).port));
    await ready;
    // Pad the JSON with spaces so it trickles for ~9 s.
    const padded = chatBody.slice(0, -1) + " ".repeat(30 * 4) + "}";
    s.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${c.key}\r\ncontent-type: application/json\r\ncontent-length: ${padded.length}\r\n\r\n`);
    const t0 = performance.now();
    for (let i = 0; i < padded.length && !st.closed; i += 4) {
      s.write(padded.slice(i, i + 4));
      await Bun.sleep(300);
    }
    const until = performance.now() + 5_000;
    while (!st.text.includes("\r\n\r\n") && !st.closed && performance.now() < until) await Bun.sleep(50);
    const result = { statuses: statusLines(st.text), closedWithoutAnswer: st.closed && st.text === "", closedAfterMs: st.closed ? Math.round(st.closedAt - t0) : null };
    s.destroy();
    expect(result.closedWithoutAnswer).toBe(false);
    expect(result.statuses).toEqual([200]);
  });
});

describe("early answers and Expect: 100-continue", () => {
  let gw: Gateway;
  let c: Customer;
  let port: number;
  beforeAll(async () => {
    gw = await startGateway({ upstream: true });
    c = await gw.customer(10_000_000);
    port = Number(new URL(gw.url).port);
  });
  afterAll(() => gw?.stop());

  /** Sends only the head (with Expect: 100-continue), never the body; what arrives within `ms`. */
  async function expectOnly(head: string, ms = 600) {
    const { s, st, ready } = connect(port);
    await ready;
    const t0 = performance.now();
    s.write(head);
    while (!/HTTP\/1\.1 [2-5]\d\d[^]*\r\n\r\n/.test(st.text) && !st.closed && performance.now() - t0 < ms) await Bun.sleep(10);
    // Bun itself answers "100 Continue" as soon as the headers are in, whatever the handler does:
    // the final answer follows at once, and the connection ends with it (no body is awaited).
    const final = statusLines(st.text).find((x) => x >= 200) ?? null;
    const out = { final, close: /\r\nconnection: close\r\n/i.test(st.text) };
    s.destroy();
    return out;
  }

  test("a wrong key with Expect: 100-continue is refused at once (401), its body not awaited", async () => {
    const r = await expectOnly(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sk-tg-wrong\r\ncontent-type: application/json\r\ncontent-length: 10485760\r\nexpect: 100-continue\r\n\r\n`);
    expect(r).toEqual({ final: 401, close: true });
  });

  test("a wrong admin token with Expect: 100-continue is refused at once (401), its body not awaited", async () => {
    const r = await expectOnly(`POST /admin/accounts HTTP/1.1\r\nhost: x\r\nauthorization: Bearer wrong-admin-token\r\ncontent-type: application/json\r\ncontent-length: 10485760\r\nexpect: 100-continue\r\n\r\n`);
    expect(r).toEqual({ final: 401, close: true });
  });

  test("a declared length over max_body_bytes with Expect: 100-continue is a 413 at once, its body not awaited", async () => {
    const r = await expectOnly(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${c.key}\r\ncontent-type: application/json\r\ncontent-length: 10485760\r\nexpect: 100-continue\r\n\r\n`);
    expect(r).toEqual({ final: 413, close: true });
  });
});

