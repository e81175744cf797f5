/**
 * A key line with a spending cap, rotated while requests of the old key are in flight on another
 * instance (billing.md, spend caps and rotated keys): the line's spend (carried by the newest
 * key) counts every charge; the line never spends beyond its cap. /v1/me of a key in its grace
 * shows the line's cap and spend on any instance.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { books, chatStatus, FLAT_MODEL, pgOverFake } from "./support/pg-gateways";

setDefaultTimeout(240_000);
const pg = pgOverFake(2, { models: [FLAT_MODEL] });
const body = (delay = 0) => JSON.stringify({ model: "flat", max_tokens: 100, messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 0, completion_tokens: 100, delay_ms: delay } });

test("a rotation while the old key's requests are in flight: the line's spend counts them, the cap holds", async () => {
  const { cluster } = pg;
  const [a, b] = cluster.gateways as [typeof cluster.gateways[0], typeof cluster.gateways[0]];
  const c = await a.customer(100_000, { spend_cap_micros: 3_000 });
  const post = (g: typeof a, key: string, d = 0) => chatStatus(g.url, key, body(d));
  // Two requests of the old key in flight on B (1,000 each)...
  const inflight = [post(b, c.key, 2_000), post(b, c.key, 2_000)];
  await Bun.sleep(700);
  // ...while the key is rotated on A (with a grace period).
  const rot = await a.admin(`/admin/keys/${c.keyId}/rotate`, { body: { grace_seconds: 3600 } });
  expect(rot.status).toBe(201);
  const fresh = (await rot.json()) as { id: string; key: string };
  expect(await Promise.all(inflight)).toEqual([200, 200]);
  await Bun.sleep(1_500);
  // The new key may spend what is left of the cap: 1,000. Try five.
  const more: number[] = [];
  for (let i = 0; i < 5; i++) more.push(await post(i % 2 ? a : b, fresh.key));
  const [{ total }] = await cluster.sql`SELECT coalesce(sum(-amount_micros),0)::bigint AS total FROM ledger_entries WHERE account_id = ${c.accountId} AND kind = 'charge'`;
  const keys = await cluster.sql`SELECT id, spent_micros::bigint AS spent, spend_cap_micros::bigint AS cap FROM api_keys WHERE account_id = ${c.accountId} ORDER BY created_at`;
  expect((await books(cluster.sql)).mismatched).toBe(0);
  expect(Number(keys.find((k: { id: string }) => k.id === fresh.id).spent)).toBe(Number(total));
  expect(Number(total)).toBeLessThanOrEqual(3_000);
});

test("/v1/me shows the line's spend, and for a key in its grace the line's cap, on any instance", async () => {
  const { cluster } = pg;
  const [a, b] = cluster.gateways as [typeof cluster.gateways[0], typeof cluster.gateways[0]];
  const c = await a.customer(100_000);
  expect(await chatStatus(b.url, c.key, body())).toBe(200);
  type Me = { key: { spend_cap_micros: number | null; spent_micros: number } };
  const me = async (g: typeof a, key: string) => ((await (await g.me(key)).json()) as Me).key;
  // No cap: what the key spent all the same, on the instance that served it and on the other.
  for (const g of [a, b]) expect(await me(g, c.key)).toMatchObject({ spend_cap_micros: null, spent_micros: 1_000 });
  const rot = await a.admin(`/admin/keys/${c.keyId}/rotate`, { body: { grace_seconds: 3600 } });
  expect(rot.status).toBe(201);
  const fresh = (await rot.json()) as { id: string; key: string };
  // The line's cap is written on its newest key; the old key's own row keeps none.
  expect((await a.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { spend_cap_micros: 1_500 } })).status).toBe(200);
  await Bun.sleep(1_000);
  for (const g of [a, b]) {
    expect(await me(g, fresh.key)).toMatchObject({ spend_cap_micros: 1_500, spent_micros: 1_000 });
    expect(await me(g, c.key)).toMatchObject({ spend_cap_micros: 1_500, spent_micros: 1_000 });
  }
  // What they show is what holds: 500 left of the cap, a request of 1,000 is refused on either key.
  expect(await chatStatus(b.url, c.key, body())).toBe(402);
  expect(await chatStatus(a.url, fresh.key, body())).toBe(402);
});
