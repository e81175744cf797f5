/**
 * On PostgreSQL a deferred request's credit is held in the memory of the instance that parked it.
 * When that instance restarts (same instance id), it holds that credit again at start; when it is
 * gone (no heartbeat), another instance takes the request over within a few seconds. Either way
 * the credit cannot be spent twice, and the result is charged once, the balance never below zero.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { until } from "./support/chat";
import { books, chatStatus, FLAT_MODEL, pgOverFake } from "./support/pg-gateways";

setDefaultTimeout(240_000);
const pg = pgOverFake(2, { models: [FLAT_MODEL] });

// Exactly one hold's worth: 100 output tokens at 10 micros = 1,000.
const BODY = JSON.stringify({ model: "flat", max_tokens: 100, messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 0, completion_tokens: 100 } });

async function park(url: string, key: string, readyMs: number): Promise<string> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "flat", max_tokens: 100, messages: [{ role: "user", content: "later" }], deferred: true, mock: { deferred_ms: readyMs, prompt_tokens: 0, completion_tokens: 100 } }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { request_id: string }).request_id;
}

async function settledOnce(url: string, key: string, accountId: string, id: string): Promise<void> {
  const got = await fetch(`${url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${key}` } });
  expect(got.status).toBe(200);
  const [{ bal }] = await pg.cluster.sql`SELECT balance_micros::bigint AS bal FROM accounts WHERE id = ${accountId}`;
  const [{ n }] = await pg.cluster.sql`SELECT count(*)::int AS n FROM ledger_entries WHERE request_id = ${id} AND kind = 'charge'`;
  expect({ balance: Number(bal), charges: n }).toEqual({ balance: 0, charges: 1 });
  expect(await books(pg.cluster.sql)).toMatchObject({ mismatched: 0, negative: 0 });
}

test("the parking instance restarts: it holds the credit again at start", async () => {
  const { cluster } = pg;
  const [a, b] = [cluster.gateways[0]!, cluster.gateways[1]!];
  const c = await a.customer(1_000);
  const id = await park(a.url, c.key, 6_000);
  expect([await chatStatus(b.url, c.key, BODY), await chatStatus(a.url, c.key, BODY)]).toEqual([402, 402]);
  await a.stop("SIGTERM");
  cluster.gateways.splice(0, 1);
  const a2 = await cluster.add("i0");
  expect([await chatStatus(b.url, c.key, BODY), await chatStatus(a2.url, c.key, BODY)]).toEqual([402, 402]);
  await Bun.sleep(6_500);
  await settledOnce(b.url, c.key, c.accountId, id);
});

test("the parking instance is gone: another takes the request over", async () => {
  const { cluster } = pg;
  const [b, a] = [cluster.gateways[0]!, cluster.gateways[1]!];
  const c = await b.customer(1_000);
  const id = await park(a.url, c.key, 1_000);
  // Killed: its leases and holds are gone with it; its heartbeat is old news (as after 30 s).
  await a.stop("SIGKILL");
  cluster.gateways.splice(1, 1);
  await cluster.sql`UPDATE instances SET seen_at = 0 WHERE id = 'i0'`;
  // Within a run of the takeover (every 15 s) the credit is held again on b.
  expect(await until(async () => (await chatStatus(b.url, c.key, BODY)) === 402 && (await b.account(c.accountId)).held_micros === 1_000, 25_000, 500)).toBe(true);
  await settledOnce(b.url, c.key, c.accountId, id);
});
