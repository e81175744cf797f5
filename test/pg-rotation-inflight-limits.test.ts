/**
 * A key rotated (with grace) while requests of the old key are in flight, on two gateways over one
 * PostgreSQL database (api.md, rotate: "requests in flight on the old key count against, and are
 * charged to, the new one"): their holds stay leased on the old key's cap and budget scopes, which
 * the new key's scopes count, so the line spends at most its cap or budget whichever instance
 * serves the new key; and what the old key's scopes lease beyond those holds goes back at the
 * rotation, on every instance, so the new key may spend all the rest at once.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { books, chatStatus, FLAT_MODEL, pgOverFake } from "./support/pg-gateways";

setDefaultTimeout(120_000);
const pg = pgOverFake(2, { models: [FLAT_MODEL] });
// 1,000 micros held and charged per request.
const body = (delay = 0) => JSON.stringify({ model: "flat", max_tokens: 100, messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 0, completion_tokens: 100, delay_ms: delay } });
type Gw = (typeof pg.cluster.gateways)[number];

/** Rotates the key on `a` with an hour's grace: the new key's id and secret. */
async function rotate(a: Gw, keyId: string): Promise<{ id: string; key: string }> {
  const rot = await a.admin(`/admin/keys/${keyId}/rotate`, { body: { grace_seconds: 3600 } });
  expect(rot.status).toBe(201);
  return (await rot.json()) as { id: string; key: string };
}

/** The line's spend (on its newest key) and what the account was charged in all. */
async function spent(keyId: string, accountId: string): Promise<{ lineSpent: number; charged: number }> {
  const [row] = await pg.cluster.sql`SELECT spent_micros FROM api_keys WHERE id = ${keyId}`;
  const [led] = await pg.cluster.sql`SELECT coalesce(sum(-amount_micros),0)::bigint AS n FROM ledger_entries WHERE account_id = ${accountId} AND amount_micros < 0`;
  return { lineSpent: Number(row.spent_micros), charged: Number(led.n) };
}

const limits = {
  cap: { spend_cap_micros: 3_000 },
  "key budget": { budget: { period: "month", amount_micros: 3_000 } },
} as const;

for (const [name, limit] of Object.entries(limits)) {
  for (const where of ["same instance", "other instance"] as const) {
    test(`${name} 3,000, two old-key requests in flight (2,000), rotation, five new-key requests at once (old ones on the ${where}): 1 admitted, the line spends 3,000`, async () => {
      const [a, b] = pg.cluster.gateways as [Gw, Gw];
      const c = await a.customer(100_000_000, limit);
      const inflightAt = where === "same instance" ? a : b;
      const inflight = [chatStatus(inflightAt.url, c.key, body(4_000)), chatStatus(inflightAt.url, c.key, body(4_000))];
      await Bun.sleep(800);
      const fresh = await rotate(a, c.keyId);
      await Bun.sleep(300);
      // While the old key's two are still in flight: only 1,000 of the line's 3,000 is left.
      const now = await Promise.all(Array.from({ length: 5 }, () => chatStatus(a.url, fresh.key, body(0))));
      const old = await Promise.all(inflight);
      await Bun.sleep(1_500);
      expect({ old, admittedNew: now.filter((s) => s === 200).length, ...(await spent(fresh.id, c.accountId)) })
        .toEqual({ old: [200, 200], admittedNew: 1, lineSpent: 3_000, charged: 3_000 });
      expect(await books(pg.cluster.sql)).toEqual({ mismatched: 0, negative: 0 });
    });
  }
}

const sliced = {
  cap: { spend_cap_micros: 20_000 },
  "key budget": { budget: { period: "month", amount_micros: 20_000 } },
} as const;

for (const [name, limit] of Object.entries(sliced)) {
  for (const where of ["same instance", "other instance"] as const) {
    test(`${name} 20,000 leased in slices, one old-key request in flight on the ${where}, rotation: the new key spends the other 19,000 at once, then is refused`, async () => {
      const [a, b] = pg.cluster.gateways as [Gw, Gw];
      const c = await a.customer(100_000_000, limit);
      // Its instance leases a slice of the old key's cap or budget (2,500), of which the request holds 1,000.
      const inflight = chatStatus((where === "same instance" ? a : b).url, c.key, body(4_000));
      await Bun.sleep(800);
      const fresh = await rotate(a, c.keyId);
      await Bun.sleep(300);
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push(await chatStatus(a.url, fresh.key, body(0)));
      expect(await inflight).toBe(200);
      await Bun.sleep(1_500);
      expect({ admittedNew: statuses.filter((s) => s === 200).length, last: statuses.at(-1), ...(await spent(fresh.id, c.accountId)) })
        .toEqual({ admittedNew: 19, last: 402, lineSpent: 20_000, charged: 20_000 });
      expect(await books(pg.cluster.sql)).toEqual({ mismatched: 0, negative: 0 });
    });
  }
}
