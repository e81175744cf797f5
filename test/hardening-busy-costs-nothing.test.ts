/**
 * A request refused after its body is read costs a rate-limit request when the refusal is the
 * client's (a bad schema, an unknown model, a hold it cannot pay), not when it is the gateway's own
 * 503 (busy, shutting down): SDKs retry those, and an honest client was never served.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chat, until, user } from "./support/chat";
import { startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { FAST, gatewayOver } from "./support/resilience";
import type { Gateway } from "./support/gateway";

setDefaultTimeout(60_000);
let upstream: MockUpstream;
let gw: Gateway;
beforeAll(async () => {
  upstream = startFakeUpstream();
  gw = await gatewayOver([{ id: "fake", url: upstream.url }], {
    max_concurrent_streams: 1,
    timeouts: { ...FAST.timeouts, stream_gap_ms: 20_000, total_ms: 25_000 },
    hold_ttl_seconds: 60,
  });
});
afterAll(async () => {
  await gw.stop();
  await upstream.stop();
});

test("503 server_busy does not use up the key's rpm: the next request once a slot is free is served", async () => {
  const other = await gw.customer(10_000_000);
  const c = await gw.customer(10_000_000);
  expect((await gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 3 } })).status).toBe(200);
  const ctrl = new AbortController();
  const hog = await chat(gw.url, other.key, { model: "grok-4", messages: user(), stream: true, mock: { hang: "body", after_chunks: 1 } }, { signal: ctrl.signal });
  expect(hog.status).toBe(200);
  await hog.body!.getReader().read();
  const busy: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await chat(gw.url, c.key, { model: "grok-4", messages: user() });
    busy.push(r.status);
    await r.arrayBuffer();
  }
  expect(busy).toEqual([503, 503, 503]);
  ctrl.abort();
  const view = async () => (await (await gw.admin("/admin/upstreams")).json()) as { in_flight: number };
  expect(await until(async () => (await view()).in_flight === 0, 3_000)).toBe(true);
  const next = await chat(gw.url, c.key, { model: "grok-4", messages: user() });
  console.log("after three 503s:", next.status, await next.text());
  expect(next.status).toBe(200);
});
