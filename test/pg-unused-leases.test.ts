/**
 * Credit one instance leases and does not use is asked back by another that finds the scope
 * scarce, instead of returning only after 10 s idle: a balance (or a spending cap) covering N
 * requests admits N whichever instances they reach, even when the first was served elsewhere from
 * a slice of a then-large balance; a request short of credit waits the few milliseconds the other
 * instance takes to give it back rather than being refused (402) meanwhile. Never more than the
 * money allows, and the books stay exact.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "drizzle-orm";
import { accountScope, capScope } from "../src/money/pg/scopes";
import { rows } from "../src/store/work";
import { books, chatStatus, FLAT_MODEL, pgOverFake } from "./support/pg-gateways";
import { pgAccount, pgCredit, tryHold, twoPgStores } from "./support/pg-credit";

setDefaultTimeout(120_000);

describe("credit stores on one database", () => {
  const dbs = twoPgStores();
  let [a, b] = [dbs.a, dbs.b];
  beforeAll(() => void ([a, b] = [dbs.a, dbs.b]));

  const leasedBy = async (scope: string, instance: string) => {
    const [r] = await a.read((q) => rows<{ a: string }>(sql`SELECT amount_micros AS a FROM credit_leases WHERE scope = ${scope} AND instance_id = ${instance}`));
    return Number(r?.a ?? 0);
  };

  test("a hold the balance covers only with another instance's idle slice: asked back, admitted at once", async () => {
    const [ca, cb] = [pgCredit(a, "ask_a"), pgCredit(b, "ask_b")];
    const o = await pgAccount(a, 100_000);
    // A slice of a plentiful balance (1/8), leased and not used.
    expect(await ca.leases.ensure(accountScope(o.accountId), 1_000)).toBe(true);
    ca.leases.unpend(`acc:${o.accountId}`, 1_000);
    expect(await leasedBy(`acc:${o.accountId}`, "ask_a")).toBe(12_500);
    const t0 = performance.now();
    expect(await tryHold(cb, o, "req_ask1", 95_000)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(await leasedBy(`acc:${o.accountId}`, "ask_a")).toBe(0);
    // Never beyond the balance: the 5,000 left, no more.
    expect(await tryHold(ca, o, "req_ask2", 5_001)).toBe(false);
    expect(await tryHold(ca, o, "req_ask3", 5_000)).toBe(true);
    await Promise.all([cb.settle("req_ask1", 95_000), ca.settle("req_ask3", 5_000)]);
  });

  test("a spending cap too: what one instance leases of it unused is asked back by the other", async () => {
    const [ca, cb] = [pgCredit(a, "ask_cap_a"), pgCredit(b, "ask_cap_b")];
    const o = await pgAccount(a, 1_000_000_000, { cap: 100_000 });
    expect(await ca.leases.ensure(capScope(o.capKeyId!, 100_000), 1_000)).toBe(true);
    ca.leases.unpend(`cap:${o.capKeyId}`, 1_000);
    expect(await leasedBy(`cap:${o.capKeyId}`, "ask_cap_a")).toBe(12_500);
    expect(await tryHold(cb, o, "req_askc1", 100_000)).toBe(true);
    expect(await tryHold(ca, o, "req_askc2", 1)).toBe(false);
    await cb.settle("req_askc1", 100_000);
  });

  test("a hold the money does not cover is still refused (after the short wait), the other instance's holds kept", async () => {
    const [ca, cb] = [pgCredit(a, "ask_no_a"), pgCredit(b, "ask_no_b")];
    const o = await pgAccount(a, 100_000);
    expect(await tryHold(ca, o, "req_askn1", 10_000)).toBe(true);
    const t0 = performance.now();
    expect(await tryHold(cb, o, "req_askn2", 95_000)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(1_000);
    // What A's request holds stays leased to A; the rest went back to the account, which B now has.
    expect(await leasedBy(`acc:${o.accountId}`, "ask_no_a")).toBe(10_000);
    expect(await tryHold(cb, o, "req_askn3", 90_000)).toBe(true);
    await Promise.all([ca.settle("req_askn1", 10_000), cb.settle("req_askn3", 90_000)]);
  });
});

describe("two gateways", () => {
  const pg = pgOverFake(2, { models: [FLAT_MODEL] });
  // 1,000 micros held and charged per request.
  const body = JSON.stringify({ model: "flat", max_tokens: 100, messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 0, completion_tokens: 100 } });

  test("a balance of 100 requests: one served on A (which leases a slice), then B serves the 99 others", async () => {
    const [a, b] = pg.cluster.gateways as [typeof pg.cluster.gateways[0], typeof pg.cluster.gateways[0]];
    const c = await a.customer(100 * 1_000);
    expect(await chatStatus(a.url, c.key, body)).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 99; i++) statuses.push(await chatStatus(b.url, c.key, body));
    const [{ bal }] = await pg.cluster.sql`SELECT balance_micros::int AS bal FROM accounts WHERE id = ${c.accountId}`;
    expect({ refused: statuses.filter((s) => s === 402).length, balance: bal }).toEqual({ refused: 0, balance: 0 });
    expect([await chatStatus(a.url, c.key, body), await chatStatus(b.url, c.key, body)]).toEqual([402, 402]);
    expect(await books(pg.cluster.sql)).toEqual({ mismatched: 0, negative: 0 });
  });

  test("a spending cap of 50 requests: one served on A, then B serves the 49 others", async () => {
    const [a, b] = pg.cluster.gateways as [typeof pg.cluster.gateways[0], typeof pg.cluster.gateways[0]];
    const c = await a.customer(100_000_000, { spend_cap_micros: 50 * 1_000 });
    expect(await chatStatus(a.url, c.key, body)).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 49; i++) statuses.push(await chatStatus(b.url, c.key, body));
    expect(statuses.filter((s) => s === 402).length).toBe(0);
    expect([await chatStatus(a.url, c.key, body), await chatStatus(b.url, c.key, body)]).toEqual([402, 402]);
    const [{ spent }] = await pg.cluster.sql`SELECT spent_micros::int AS spent FROM api_keys WHERE id = ${c.keyId}`;
    expect(spent).toBe(50 * 1_000);
  });
});
