/**
 * Leases follow the demand between instances. A scarce scope (the last of a cap or budget, a
 * small concurrency limit) keeps nothing its requests do not hold: one instance leasing a key's
 * cap and another its budget must not refuse the customer on both for as long as traffic goes
 * on, and a concurrency-1 slot must not stay on the instance that last used it. A lease only
 * refused requests touch goes back when idle, as one nobody touches does.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "drizzle-orm";
import { BudgetClock } from "../src/money/budget-clock";
import { PgCreditStore } from "../src/money/pg/pg-credit-store";
import { budgetScope, capScope, type Scope } from "../src/money/pg/scopes";
import { rows } from "../src/store/work";
import { chatStatus, FLAT_MODEL, pgOverFake } from "./support/pg-gateways";
import { pgAccount, pgCredit, tryHold, twoPgStores } from "./support/pg-credit";

setDefaultTimeout(300_000);

describe("credit stores on one database", () => {
  const dbs = twoPgStores();
  let [a, b] = [dbs.a, dbs.b];
  beforeAll(() => void ([a, b] = [dbs.a, dbs.b]));

  /** A rich account whose key has a cap and a monthly budget. */
  const customer = (cap: number, budget: number) => pgAccount(a, 1_000_000_000, { cap, monthlyBudget: budget });
  const credit = pgCredit;

  /** What a burst leaves behind: a scope leased for requests that were then refused elsewhere. */
  async function leaseUnused(c: PgCreditStore, s: Scope, amount: number): Promise<void> {
    expect(await c.leases.ensure(s, amount)).toBe(true);
    c.leases.unpend(s.key, amount);
  }

  const leasedIn = async (scope: string, instance: string) => {
    const [r] = await a.read((q) => rows<{ a: string }>(sql`SELECT amount_micros AS a FROM credit_leases WHERE scope = ${scope} AND instance_id = ${instance}`));
    return Number(r?.a ?? 0);
  };

  test("a cap leased on one instance and a budget on the other: requests alternating between them get all the money allows", async () => {
    const [ca, cb] = [credit(a, "fair_cap"), credit(b, "fair_bud")];
    const o = await customer(10_000, 8_000);
    await leaseUnused(ca, capScope(o.capKeyId!, 10_000), 9_000);
    await leaseUnused(cb, budgetScope("key", o.capKeyId!, { micros: 8_000, period: "month" }, new BudgetClock(), Date.now()), 7_000);
    const admitted: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      const c = [ca, cb][i % 2]!;
      admitted.push(await tryHold(c, o, `req_fair${i}`, 1_000));
      if (admitted.at(-1)) await c.settle(`req_fair${i}`, 1_000);
      // A client's pause: what one instance gives back is in the database before the next request.
      await Bun.sleep(100);
    }
    // The budget allows eight; both instances admit until it is spent, never beyond.
    expect(admitted).toEqual([...Array<boolean>(8).fill(true), false, false]);
  });

  test("requests refused for want of a budget do not keep the cap and balance they never use from going back when idle", async () => {
    let now = Date.now();
    const clock = () => now;
    const c = credit(a, "idle_refused", clock);
    const o = await customer(1_000_000_000, 1_000_000);
    expect(await tryHold(c, o, "req_idle0", 1_000)).toBe(true);
    await c.settle("req_idle0", 1_000);
    // Slices of a plentiful account and cap: not scarce, so they stay until unused for 10 s.
    expect(await leasedIn(`cap:${o.capKeyId}`, "idle_refused")).toBeGreaterThan(100_000_000);
    for (let i = 1; i <= 12; i++) {
      now += 1_000;
      expect(await tryHold(c, o, `req_idle${i}`, 2_000_000)).toBe(false);
      await c.leases.maintain();
    }
    expect(await leasedIn(`cap:${o.capKeyId}`, "idle_refused")).toBe(0);
    expect(await leasedIn(`acc:${o.accountId}`, "idle_refused")).toBe(0);
  });
});

describe("two gateways behind a round robin", () => {
  const pg = pgOverFake(2, { models: [FLAT_MODEL], max_concurrent_streams: 2000, plans: { default: { rpm: 1_000_000, tpm: 1_000_000_000, concurrency: 1_000 } } });
  // 1,000 micros held and charged per request.
  const body = JSON.stringify({ model: "flat", max_tokens: 100, messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 0, completion_tokens: 100 } });
  const call = (gw: number, key: string) => chatStatus(pg.cluster.gateways[gw]!.url, key, body);

  test("a cap and a budget nearly spent: after a burst, one request at a time gets what is left within a second", async () => {
    // A burst splits the scopes between the instances in some trials only (a race): ten of them.
    for (let trial = 0; trial < 10; trial++) {
      const c = await pg.cluster.gateways[0]!.customer(100_000_000, { spend_cap_micros: 12_000, budget: { period: "month", amount_micros: 10_000 } });
      expect([await call(0, c.key), await call(1, c.key)]).toEqual([200, 200]);
      // Eight more fit in the budget: a burst over both instances, then one request at a time.
      const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => call(i % 2, c.key)));
      let ok = burst.filter((s) => s === 200).length;
      const late: number[] = [];
      const t0 = Date.now();
      for (let i = 0; ok < 8 && Date.now() - t0 < 6_000; i++) {
        const status = await call(i % 2, c.key);
        if (status === 200) ok++;
        else if (Date.now() - t0 > 1_000) late.push(status);
        await Bun.sleep(200);
      }
      expect({ trial, ok, late }).toEqual({ trial, ok: 8, late: [] });
      expect([await call(0, c.key), await call(1, c.key)]).toEqual([402, 402]);
    }
  });

  test("a concurrency-1 key used one request at a time through both instances: never refused", async () => {
    const c = await pg.cluster.gateways[0]!.customer(100_000_000);
    expect((await pg.cluster.gateways[0]!.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { concurrency: 1 } })).status).toBe(200);
    await Bun.sleep(1_500);
    const statuses: number[] = [];
    for (let i = 0; i < 16; i++) {
      statuses.push(await call(i % 2, c.key));
      await Bun.sleep(250);
    }
    expect(statuses).toEqual(Array<number>(16).fill(200));
  });
});
