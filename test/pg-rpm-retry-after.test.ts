/**
 * A 429 of a key's requests per minute tells in its retry-after when a request will be admitted:
 * a retry made exactly then is served, on PostgreSQL as on one process. An instance checks the RPM
 * before the body against the shared bucket as it knows it (its grant, what the bucket had left,
 * refilled since), so the next request is refused unread and free, as on SQLite. An instance that
 * did not see the bucket emptied elsewhere reads the body and refuses it at admission, which costs
 * that request (a body read past the RPM may not be free): its retry-after counts that request too.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import type { GatewayClient } from "./support/gateway";
import { pgOverFake, sqliteOverFake } from "./support/pg-gateways";

setDefaultTimeout(60_000);
const PLANS = { default: { rpm: 100, tpm: 100_000, concurrency: 10 } };
// A key at 20 RPM: one request refills every 3 s, and an instance takes its bucket one request at a time.
const RPM = 20;
const one = sqliteOverFake({ plans: PLANS });
const pg = pgOverFake(2, { plans: PLANS });

const SMALL = JSON.stringify({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "hi" }] });

async function post(gw: GatewayClient, key: string): Promise<Response> {
  const r = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: SMALL });
  await r.arrayBuffer();
  return r;
}

/** A customer whose key has used its whole minute of requests on `gw`. */
async function spentCustomer(gw: GatewayClient): Promise<{ key: string }> {
  const c = await gw.customer(10_000_000);
  expect((await gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: RPM } })).status).toBe(200);
  for (let i = 0; i < RPM; i++) expect((await post(gw, c.key)).status).toBe(200);
  return c;
}

/** The 429 past the RPM, then a retry made after exactly its retry-after-ms, on `retryOn`. */
async function retryAtRetryAfter(refusedOn: GatewayClient, retryOn: GatewayClient, key: string) {
  const refused = await post(refusedOn, key);
  const wait = Number(refused.headers.get("retry-after-ms"));
  await Bun.sleep(wait);
  const retried = await post(retryOn, key);
  return { refused: refused.status, waited: wait > 0, retried: retried.status };
}

test("a retry made at an RPM 429's retry-after is served, on PostgreSQL as on SQLite", async () => {
  const onSqlite = await retryAtRetryAfter(one.sqlite, one.sqlite, (await spentCustomer(one.sqlite)).key);
  expect(onSqlite).toEqual({ refused: 429, waited: true, retried: 200 });
  const gw = pg.cluster.gateways[0]!;
  expect(await retryAtRetryAfter(gw, gw, (await spentCustomer(gw)).key)).toEqual(onSqlite);
});

// Instance 1 never took from the key's bucket, which instance 0 emptied: it guesses it full, reads
// the body and refuses it at admission, at the cost of that request.
test("PostgreSQL, two instances: the RPM 429 of a body read on the other instance counts its request in its retry-after", async () => {
  const [a, b] = [pg.cluster.gateways[0]!, pg.cluster.gateways[1]!];
  const c = await spentCustomer(a);
  expect(await retryAtRetryAfter(b, b, c.key)).toEqual({ refused: 429, waited: true, retried: 200 });
  const d = await spentCustomer(a);
  expect(await retryAtRetryAfter(b, a, d.key)).toEqual({ refused: 429, waited: true, retried: 200 });
});
