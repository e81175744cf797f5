/**
 * A deferred completion parked on instance A, fetched at the same moment from A and from B.
 * Charged once, and every balance stays the sum of its ledger: the parking instance reads the
 * ledger before charging a hold another instance may have charged meanwhile.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { books, pgOverFake } from "./support/pg-gateways";

setDefaultTimeout(240_000);
const pg = pgOverFake(2);

test("a deferred result fetched at once from the parking instance and another is charged once", async () => {
  const [a, b] = pg.cluster.gateways as [typeof pg.cluster.gateways[0], typeof pg.cluster.gateways[0]];
  const c = await a.customer(10_000_000);
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const res = await fetch(`${a.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "later" }], max_tokens: 50, deferred: true, mock: { deferred_ms: 200, prompt_tokens: 7, completion_tokens: 5 } }),
    });
    expect(res.status).toBe(200);
    ids.push(((await res.json()) as { request_id: string }).request_id);
  }
  await Bun.sleep(400);
  const get = (g: typeof a, id: string) => fetch(`${g.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${c.key}` } }).then((r) => r.status);
  for (const id of ids) {
    const st = await Promise.all([get(a, id), get(b, id)]);
    expect(st).toEqual([200, 200]);
  }
  await Bun.sleep(500);
  const perCharge = 7 * 3 + 5 * 15;
  const [{ n, s }] = await pg.cluster.sql`SELECT count(*)::int AS n, coalesce(sum(-amount_micros),0)::bigint AS s FROM ledger_entries WHERE account_id = ${c.accountId} AND kind = 'charge'`;
  const [{ bal }] = await pg.cluster.sql`SELECT balance_micros::bigint AS bal FROM accounts WHERE id = ${c.accountId}`;
  const [{ spent }] = await pg.cluster.sql`SELECT spent_micros::bigint AS spent FROM api_keys WHERE id = ${c.keyId}`;
  console.log({ ledgerCharges: n, ledgerSum: Number(s), balance: Number(bal), expected: 10_000_000 - ids.length * perCharge, keySpent: Number(spent) });
  expect(n).toBe(ids.length);
  expect(Number(spent)).toBe(ids.length * perCharge);
  expect(Number(bal)).toBe(10_000_000 - ids.length * perCharge);
  expect((await books(pg.cluster.sql)).mismatched).toBe(0);
});
