/**
 * A concurrency-1 key used one request at a time behind a round robin, its requests 20 ms apart:
 * the slot goes back as each request ends, so the next one gets it on the other instance too
 * (test/pg-lease-fairness.test.ts checks the same with 250 ms pauses).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startPgGateways, type PgCluster } from "./support/pg-gateways";

setDefaultTimeout(300_000);
let upstream: MockUpstream;
let cluster: PgCluster;
const body = JSON.stringify({ model: "grok-4", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });

beforeAll(async () => {
  upstream = startFakeUpstream();
  const cat = fakeCatalogue(upstream.url);
  cluster = await startPgGateways(2, { entry: "source", config: { ...cat, ...SINGLE_SHOT, log_format: "off" } });
});
afterAll(async () => {
  await cluster?.stop();
  await upstream?.stop();
});

const call = async (gw: number, key: string) => {
  const r = await fetch(`${cluster.gateways[gw]!.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body });
  await r.text();
  return r.status;
};

test("a concurrency-1 key used one request at a time through both instances, 20 ms apart: never refused", async () => {
  const c = await cluster.gateways[0]!.customer(100_000_000);
  expect((await cluster.gateways[0]!.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { concurrency: 1 } })).status).toBe(200);
  await Bun.sleep(1_500);
  const statuses: number[] = [];
  for (let i = 0; i < 16; i++) {
    statuses.push(await call(i % 2, c.key));
    await Bun.sleep(20);
  }
  expect(statuses).toEqual(Array<number>(16).fill(200));
});
