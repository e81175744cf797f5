/**
 * A concurrency-1 key used one request at a time behind a round robin, its requests 20 ms apart:
 * the slot goes back as each request ends, so the next one gets it on the other instance too
 * (test/pg-lease-fairness.test.ts checks the same with 250 ms pauses).
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { chatStatus, pgOverFake } from "./support/pg-gateways";

setDefaultTimeout(300_000);
const pg = pgOverFake(2);
const body = JSON.stringify({ model: "grok-4", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
const call = (gw: number, key: string) => chatStatus(pg.cluster.gateways[gw]!.url, key, body);

test("a concurrency-1 key used one request at a time through both instances, 20 ms apart: never refused", async () => {
  const { cluster } = pg;
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
