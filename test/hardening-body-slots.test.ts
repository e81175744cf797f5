/**
 * A key's limits apply before its body is read: a key with no request left this minute is
 * refused at once (no body read, parsed or estimated), and bodies being read hold the key's and
 * the account's concurrency slots, so one customer cannot pin memory with bodies it never
 * finishes sending while other customers are served.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({
    upstream: true,
    config: {
      timeouts: { body_ms: 4_000 },
      plans: { default: { rpm: 1_000, tpm: 10_000_000, concurrency: 2 }, slow: { rpm: 1, tpm: 10_000_000, concurrency: 10 } },
    },
  });
});
afterAll(() => gw?.stop());

const port = () => Number(new URL(gw.url).port);
const CHAT = JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "x" }], max_tokens: 5 });

/** A request that declares `declared` bytes and sends `sent` of them; resolves with the status line once answered. */
async function held(key: string, declared: number, sent: string) {
  let text = "";
  let answeredAt = 0;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: port(),
    socket: {
      data: (_s, d) => {
        text += d.toString();
        answeredAt ||= performance.now();
      },
    },
  });
  const started = performance.now();
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n${sent}`);
  return {
    socket,
    /** The status, and how long after sending it came (-1: not yet). */
    answer: () => ({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), ms: answeredAt ? answeredAt - started : -1 }),
  };
}

const chat = (key: string) =>
  fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: CHAT });

describe("before the body is read", () => {
  test("a key with no request left this minute is refused at once, however large or slow its body", async () => {
    const c = await gw.customer(10_000_000);
    expect((await gw.admin(`/admin/accounts/${c.accountId}/plan`, { method: "PUT", body: { plan: "slow" } })).status).toBe(200);
    expect((await chat(c.key)).status).toBe(200);
    // Declares 1 MB and sends nothing: answered 429 without waiting for body_ms (4 s); the answer
    // waits about a second for a body to drain, as every early refusal does.
    const r = await held(c.key, 1_000_000, "");
    const until = performance.now() + 3_500;
    while (r.answer().status === 0 && performance.now() < until) await Bun.sleep(10);
    r.socket.end();
    expect(r.answer().status).toBe(429);
    expect(r.answer().ms).toBeLessThan(2_500);
  });

  test("bodies being read take the account's concurrency slots: a third is 429 at once; another account is served", async () => {
    const a = await gw.customer(10_000_000);
    const b = await gw.customer(10_000_000);
    // Two bodies that stop one byte short of what they declare.
    const stalled = [await held(a.key, CHAT.length, CHAT.slice(0, -1)), await held(a.key, CHAT.length, CHAT.slice(0, -1))];
    await Bun.sleep(100);
    // GET /v1/me counts them too.
    const me = (await (await gw.me(a.key)).json()) as { limits: { remaining: { concurrency: number } } };
    expect(me.limits.remaining.concurrency).toBe(0);
    const third = await chat(a.key);
    expect(third.status).toBe(429);
    expect(((await third.json()) as { error: { code: string } }).error.code).toBe("rate_limit_exceeded");
    expect((await chat(b.key)).status).toBe(200);
    // Once they are answered (408 after body_ms), the slots are free again.
    const until = performance.now() + 10_000;
    while (stalled.some((s) => s.answer().status === 0) && performance.now() < until) await Bun.sleep(50);
    expect(stalled.map((s) => s.answer().status)).toEqual([408, 408]);
    for (const s of stalled) s.socket.end();
    expect((await chat(a.key)).status).toBe(200);
  });
});
