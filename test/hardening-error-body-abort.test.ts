/**
 * An upstream that answers a stream with an error status is a failure before any byte: nothing is
 * charged (billing.md step 5). A client that leaves while the gateway reads that error's body is
 * charged nothing either: the upstream refused the request.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startGateway, type Gateway } from "./support/gateway";

let up: Bun.TCPSocketListener<undefined>;
let g: Gateway;
beforeAll(async () => {
  // A raw server: the 503's status line and headers at once, its body 1.5 s later (Bun.serve would
  // hold the headers back until the first chunk of the body).
  const body = '{"error":{"message":"overloaded","type":"server_error"}}';
  up = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket) {
        socket.write(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
        setTimeout(() => socket.write(body), 1500);
      },
    },
  });
  g = await startGateway({
    config: {
      providers: [{ id: "p", base_url: `http://127.0.0.1:${up.port}`, kind: "xai", api_key: "k-123456789" }],
      models: [{ id: "m", provider: "p", input_price: 3, output_price: 15, max_output_tokens: 100 }],
      retry: { max_attempts: 1 },
    },
  });
});
afterAll(async () => {
  await g.stop();
  up.stop(true);
});

test("stream: client leaves while the gateway reads the upstream's 503 body → nothing charged", async () => {
  const c = await g.customer(10_000_000);
  const ac = new AbortController();
  const p = fetch(`${g.url}/v1/chat/completions`, {
    method: "POST", signal: ac.signal, headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "m", stream: true, max_tokens: 10, messages: [{ role: "user", content: "q".repeat(4000) }] }),
  }).catch((e) => e);
  await Bun.sleep(400);
  ac.abort();
  await p;
  await Bun.sleep(2000);
  const charged = 10_000_000 - (await g.balance(c.accountId));
  expect(charged).toBe(0);
});
