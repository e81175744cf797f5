/**
 * A budget whose rule changes (its period: month to day, and back) is checked against the new
 * rule from the next request, on one instance as on several: what the instances still lease of the
 * old period and do not hold is asked back at once instead of counting against the new period
 * until it goes back idle (10 s of 402 `budget_exhausted` while /v1/me shows budget left). Holds
 * in flight there still count (they are charged on the day they settle), and the new period admits
 * exactly what it allows.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sql, type SQL } from "drizzle-orm";
import { PgStore } from "../src/store/pg-store";
import { rows, run } from "../src/store/work";
import { chatStatus, FLAT_MODEL, pgOverFake } from "./support/pg-gateways";
import { pgAccount, pgCredit, tryHold } from "./support/pg-credit";
import { freshPostgres } from "./support/postgres";

setDefaultTimeout(120_000);

describe("one instance", () => {
  let db: PgStore;
  beforeAll(async () => {
    db = await PgStore.open(await freshPostgres(), { poolSize: 4 });
  });
  afterAll(async () => {
    await db?.close();
  });

  /** A write with its change notification, as the admin API makes it; resolves once the store heard it. */
  async function update(statement: SQL): Promise<void> {
    const stamp = db.changeStamp();
    await db.tx(() => run(statement), { notify: true });
    while (db.changeStamp() === stamp) await Bun.sleep(5);
  }

  test("month → day → month: each next request is judged by the new rule alone, and each admits exactly what it allows", async () => {
    const c = pgCredit(db, "rule_one");
    const o = await pgAccount(db, 1_000_000_000, { monthlyBudget: 1_000_000 });
    for (let i = 0; i < 2; i++) {
      expect(await tryHold(c, o, `req_r${i}`, 1_000)).toBe(true);
      await c.settle(`req_r${i}`, 1_000);
    }
    // A slice of the month (1/8 of what is left) stays leased here, unused.
    const [m] = await db.read((q) => rows<{ n: string }>(sql`SELECT sum(amount_micros) AS n FROM credit_leases WHERE scope LIKE ${`bud:key:${o.capKeyId}:%`}`));
    expect(Number(m!.n)).toBeGreaterThan(100_000);
    await update(sql`UPDATE api_keys SET budget_micros = 6000, budget_period = 'day' WHERE id = ${o.capKeyId}`);
    // 6,000 a day, 2,000 spent today: four more (three charged, one still in flight).
    const day: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      day.push(await tryHold(c, o, `req_d${i}`, 1_000));
      if (day.at(-1) && i < 3) await c.settle(`req_d${i}`, 1_000);
    }
    expect(day).toEqual([true, true, true, true, false]);
    await update(sql`UPDATE api_keys SET budget_micros = 10000, budget_period = 'month' WHERE id = ${o.capKeyId}`);
    // 10,000 a month, 5,000 spent and 1,000 held on the day's lease: four more, none refused for that lease's unused part.
    const month: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      month.push(await tryHold(c, o, `req_m${i}`, 1_000));
      if (month.at(-1)) await c.settle(`req_m${i}`, 1_000);
    }
    expect(month).toEqual([true, true, true, true, false, false]);
    await c.settle("req_d3", 1_000);
    const [k] = await db.read((q) => rows<{ n: string }>(sql`SELECT sum(spent_micros) AS n FROM budget_spend WHERE owner = ${`key:${o.capKeyId}`}`));
    expect(Number(k!.n)).toBe(10_000);
  });
});

describe("two gateways", () => {
  const pg = pgOverFake(2, { models: [FLAT_MODEL] });
  // 1,000 micros held and charged per request.
  const body = JSON.stringify({ model: "flat", max_tokens: 100, messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 0, completion_tokens: 100 } });

  test("a budget changed from 1 USD a month to 0.006 USD a day after 0.002 spent: the next four are admitted on either instance, then none", async () => {
    const [a, b] = pg.cluster.gateways as [typeof pg.cluster.gateways[0], typeof pg.cluster.gateways[0]];
    const c = await a.customer(100_000_000, { budget: { period: "month", amount_micros: 1_000_000 } });
    // Each instance leases a slice of the month.
    expect([await chatStatus(a.url, c.key, body), await chatStatus(b.url, c.key, body)]).toEqual([200, 200]);
    expect((await a.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { budget: { period: "day", amount_micros: 6_000 } } })).status).toBe(200);
    // Every instance has heard of the change.
    await Bun.sleep(1_200);
    const me = (await (await b.me(c.key)).json()) as { budgets: { period: string; remaining_micros: number }[] };
    expect(me.budgets.map((x) => [x.period, x.remaining_micros])).toEqual([["day", 4_000]]);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push(await chatStatus([a, b][i % 2]!.url, c.key, body));
    expect(statuses).toEqual([200, 200, 200, 200, 402, 402]);
    // The month's slices went back: only the day's scope (the latest period start) is leased.
    const leased = await pg.cluster.sql`SELECT scope, sum(amount_micros)::int AS amount FROM credit_leases WHERE scope LIKE ${`bud:key:${c.keyId}:%`} GROUP BY scope ORDER BY scope`;
    expect(leased.slice(0, -1).map((r: { amount: number }) => r.amount)).toEqual(leased.slice(0, -1).map(() => 0));
  });
});
