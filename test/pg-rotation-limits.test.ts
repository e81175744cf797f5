/**
 * On PostgreSQL a key's rate limits live in buckets shared by every instance. Rotating the key
 * must not refill them: the line's requests this minute count for its new key too, whichever
 * instance rotates it and whichever serves it.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { chatStatus, pgOverFake } from "./support/pg-gateways";

setDefaultTimeout(240_000);
const pg = pgOverFake(2);

test("a rotated key goes on with its line's requests of the minute, on every instance", async () => {
  const [a, b] = pg.cluster.gateways as [typeof pg.cluster.gateways[0], typeof pg.cluster.gateways[0]];
  const c = await a.customer(10_000_000);
  expect((await a.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 4 } })).status).toBe(200);
  const body = JSON.stringify({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "hi" }] });
  const post = (g: typeof a, key: string) => chatStatus(g.url, key, body);
  const used: number[] = [];
  for (let i = 0; i < 4; i++) used.push(await post(i % 2 ? b : a, c.key));
  expect(used).toEqual([200, 200, 200, 200]);
  const rot = await b.admin(`/admin/keys/${c.keyId}/rotate`, { body: { grace_seconds: 3600 } });
  expect(rot.status).toBe(201);
  const fresh = (await rot.json()) as { key: string };
  // Let every instance hear of the rotation (change notifications: within a second).
  await Bun.sleep(1_500);
  expect([await post(a, fresh.key), await post(b, fresh.key), await post(a, c.key)]).toEqual([429, 429, 429]);
});
