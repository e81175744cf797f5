import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load";
import { ApiError } from "../src/lib/errors";
import { BudgetClock } from "../src/money/budget-clock";
import { checkLedger } from "../src/money/ledger";
import { SettleJournal } from "../src/money/settle-journal";
import { SettleWriter } from "../src/money/settle-writer";
import { SqliteCreditStore } from "../src/money/sqlite-credit-store";
import { updateKey } from "../src/modules/keys/update";
import { rotateKey } from "../src/modules/keys/service";
import { rollUpUsage } from "../src/modules/usage/service";
import type { SqliteStore } from "../src/store/sqlite-store";
import { apiErrorOf, freshDb, manualClock, seedAccount, seedKey, tick } from "./support/foundation";

/**
 * Budgets that reset: where periods begin in a time zone, and the money rules for them. The
 * check is as exact as the spend cap's (holds in flight count, no await between check and hold),
 * the spend is counted with the charge in the same transaction, once per request id, and a
 * period's spend is what counts.
 */
const USD = 1_000_000;
const BERLIN = new BudgetClock("Europe/Berlin");

function setup(o: { credits?: number; tz?: string; start?: number; journal?: SettleJournal } = {}) {
  const db = freshDb();
  const clock = manualClock(o.start ?? Date.parse("2026-12-15T12:00:00Z"));
  const budgetClock = new BudgetClock(o.tz ?? "UTC");
  const store = new SqliteCreditStore(db, { holdTtlMs: 60_000, now: clock.now, budgetClock, journal: o.journal, applyMs: 3_600_000 });
  const acc = seedAccount(db, o.credits ?? 100 * USD);
  return { db, clock, store, acc, budgetClock };
}

const spendRows = (db: SqliteStore) =>
  db.sqlite.query<{ owner: string; day: number; spent_micros: number }, []>("SELECT owner, day, spent_micros FROM budget_spend ORDER BY owner, day").all();
const policy = loadConfig({ env: {} });
const edit = (db: SqliteStore, id: string, body: Parameters<typeof updateKey>[2], now: number) =>
  updateKey(db, id, body, { actor: "test", now, policy, models: ["grok-4"] });

describe("budget periods", () => {
  test("days, weeks (from Monday) and months start at midnight in the zone, and reset then", () => {
    const t = Date.parse("2026-12-15T12:00:00Z");
    expect(BERLIN.format(BERLIN.periodStart("day", t))).toBe("2026-12-15T00:00:00+01:00");
    expect(BERLIN.format(BERLIN.periodStart("week", t))).toBe("2026-12-14T00:00:00+01:00");
    expect(BERLIN.format(BERLIN.periodStart("month", t))).toBe("2026-12-01T00:00:00+01:00");
    expect(new Date(BERLIN.periodEnd("month", t)).toISOString()).toBe("2026-12-31T23:00:00.000Z");
    expect(BERLIN.format(BERLIN.periodEnd("month", t))).toBe("2027-01-01T00:00:00+01:00");
    const utc = new BudgetClock();
    expect(utc.format(utc.periodEnd("week", t))).toBe("2026-12-21T00:00:00Z");
    // Summer time: the offset of the period's own midnight, not the current one.
    expect(BERLIN.format(BERLIN.periodStart("month", Date.parse("2027-04-10T12:00:00Z")))).toBe("2027-04-01T00:00:00+02:00");
  });

  test("a midnight that does not exist (the clock jumps at 00:00) starts the day at the jump", () => {
    const santiago = new BudgetClock("America/Santiago");
    expect(santiago.format(santiago.dayStart(Date.parse("2026-09-06T12:00:00Z")))).toBe("2026-09-06T01:00:00-03:00");
    expect(santiago.periodEnd("day", Date.parse("2026-09-05T12:00:00Z"))).toBe(santiago.dayStart(Date.parse("2026-09-06T12:00:00Z")));
  });

  test("budget_timezone is validated with Intl, from the file or TOLLGATE_BUDGET_TIMEZONE", () => {
    expect(loadConfig({ env: {} }).budget_timezone).toBe("UTC");
    expect(loadConfig({ env: { TOLLGATE_BUDGET_TIMEZONE: "Europe/Berlin" } }).budget_timezone).toBe("Europe/Berlin");
    expect(() => loadConfig({ env: { TOLLGATE_BUDGET_TIMEZONE: "Mars/Olympus_Mons" } })).toThrow(/budget_timezone \(env TOLLGATE_BUDGET_TIMEZONE\).*IANA time zone/);
  });
});

describe("the budget check", () => {
  test("200 simultaneous reservations against a budget covering exactly 10 admit exactly 10, whatever the balance", async () => {
    const HOLD = 250_000;
    const { db, store, acc, clock } = setup({ credits: 1000 * USD });
    const { row: key } = seedKey(db, acc);
    await edit(db, key.id, { budget: { period: "day", amount_micros: 10 * HOLD } }, clock.now());
    const outcomes = await Promise.allSettled(Array.from({ length: 200 }, async (_, i) => {
      await tick();
      store.reserve({ accountId: acc, keyId: key.id, capKeyId: key.id, requestId: `req_${i}`, amount: HOLD });
      return `req_${i}`;
    }));
    const admitted = outcomes.filter((o) => o.status === "fulfilled").map((o) => (o as PromiseFulfilledResult<string>).value);
    const refused = outcomes.filter((o) => o.status === "rejected").map((o) => (o as PromiseRejectedResult).reason as ApiError);
    expect(admitted).toHaveLength(10);
    expect(refused.every((e) => e.status === 402 && e.code === "budget_exhausted")).toBe(true);
    // Holds in flight count against the budget before anything is charged.
    expect(store.budgets({ capKeyId: key.id, memberId: null })[0]).toMatchObject({ spent: 0, held: 10 * HOLD, remaining: 0 });
    await Promise.all(admitted.map((id) => store.settle(id, HOLD)));
    expect(store.budgets({ capKeyId: key.id, memberId: null })[0]).toMatchObject({ spent: 10 * HOLD, held: 0, remaining: 0 });
    expect(spendRows(db)).toEqual([{ owner: `key:${key.id}`, day: new BudgetClock().dayStart(clock.now()), spent_micros: 10 * HOLD }]);
    expect(await checkLedger(db)).toEqual([]);
  });

  test("the refusal names the budget, what was spent and when it resets, in the budget's zone", async () => {
    const { db, store, acc, clock } = setup({ tz: "Europe/Berlin" });
    const { row: key } = seedKey(db, acc);
    await edit(db, key.id, { budget: { period: "month", amount_micros: 50 * USD } }, clock.now());
    store.reserve({ accountId: acc, keyId: key.id, requestId: "r1", amount: 40 * USD });
    await store.settle("r1", 40 * USD);
    const e = apiErrorOf(() => store.reserve({ accountId: acc, keyId: key.id, requestId: "r2", amount: 11 * USD }));
    expect(e.status).toBe(402);
    expect(e.code).toBe("budget_exhausted");
    expect(e.message).toBe(
      "This key's monthly budget of 50 USD is used up (40 USD spent this month, not enough left for this request); it resets at 2027-01-01T00:00:00+01:00 (Europe/Berlin).",
    );
    expect(e.headers["x-budget-reset"]).toBe("2026-12-31T23:00:00.000Z");
    // What is left is still usable.
    store.reserve({ accountId: acc, keyId: key.id, requestId: "r3", amount: 10 * USD });
  });

  test("a new period starts from zero: only the current period's spend counts", async () => {
    const { db, store, acc, clock } = setup({ tz: "Europe/Berlin", start: Date.parse("2026-12-31T22:30:00Z") });
    const { row: key } = seedKey(db, acc);
    await edit(db, key.id, { budget: { period: "month", amount_micros: 5 * USD } }, clock.now());
    store.reserve({ accountId: acc, keyId: key.id, requestId: "dec", amount: 5 * USD });
    await store.settle("dec", 5 * USD);
    expect(apiErrorOf(() => store.reserve({ accountId: acc, keyId: key.id, requestId: "x", amount: 1 })).code).toBe("budget_exhausted");
    // 23:00 UTC on 31 December is midnight in Berlin: January's budget is whole.
    clock.set(Date.parse("2026-12-31T23:00:00Z"));
    expect(store.budgets({ capKeyId: key.id, memberId: null })[0]).toMatchObject({ spent: 0, remaining: 5 * USD });
    store.reserve({ accountId: acc, keyId: key.id, requestId: "jan", amount: 5 * USD });
  });

  test("an overage may take a budget past its amount by that request only; then nothing is admitted", async () => {
    const { db, store, acc, clock } = setup();
    const { row: key } = seedKey(db, acc);
    await edit(db, key.id, { budget: { period: "week", amount_micros: 1 * USD } }, clock.now());
    store.reserve({ accountId: acc, keyId: key.id, requestId: "big", amount: 900_000 });
    await store.settle("big", 1_300_000);
    const b = store.budgets({ capKeyId: key.id, memberId: null })[0]!;
    expect(b).toMatchObject({ spent: 1_300_000, remaining: -300_000 });
    expect(apiErrorOf(() => store.reserve({ accountId: acc, keyId: key.id, requestId: "next", amount: 0 })).code).toBe("budget_exhausted");
  });

  test("a member's budget covers all of the member's keys, with their holds", async () => {
    const { db, store, acc } = setup();
    db.sqlite.query("INSERT INTO account_members (id, account_id, email, role, budget_micros, budget_period, created_at, updated_at) VALUES ('mem_a', ?, 'a@x.test', 'member', ?, 'day', 0, 0)").run(acc, 3 * USD);
    const k1 = seedKey(db, acc).row;
    const k2 = seedKey(db, acc).row;
    store.reserve({ accountId: acc, keyId: k1.id, memberId: "mem_a", requestId: "a", amount: 2 * USD });
    const e = apiErrorOf(() => store.reserve({ accountId: acc, keyId: k2.id, memberId: "mem_a", requestId: "b", amount: 2 * USD }));
    expect(e.message).toStartWith("Your daily member budget of 3 USD is used up");
    await store.settle("a", 1 * USD);
    store.reserve({ accountId: acc, keyId: k2.id, memberId: "mem_a", requestId: "b", amount: 2 * USD });
    await store.settle("b", 2 * USD);
    expect(spendRows(db).filter((r) => r.owner === "member:mem_a").map((r) => r.spent_micros)).toEqual([3 * USD]);
    // A key of nobody's budget is not limited by it.
    store.reserve({ accountId: acc, keyId: k2.id, requestId: "c", amount: 2 * USD });
  });

  test("rotation keeps the line's budget and its spend: old and new keys share one", async () => {
    const { db, store, acc, clock } = setup();
    const { row: key } = seedKey(db, acc, { budget: { period: "month", amount_micros: 2 * USD } });
    store.reserve({ accountId: acc, keyId: key.id, requestId: "r1", amount: USD });
    await store.settle("r1", USD);
    const { row: next } = await rotateKey(db, key.id, 3600, "test", clock.now());
    expect(spendRows(db).map((r) => r.owner)).toEqual([`key:${next.id}`]);
    // The old key, still in its grace period, counts against the newest key's budget.
    store.reserve({ accountId: acc, keyId: key.id, capKeyId: next.id, requestId: "r2", amount: USD });
    expect(apiErrorOf(() => store.reserve({ accountId: acc, keyId: next.id, capKeyId: next.id, requestId: "r3", amount: 1 })).code).toBe("budget_exhausted");
  });
});

describe("budget spend and the ledger", () => {
  test("one count per request id: settling twice or applying the journal twice adds nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-budget-"));
    try {
      const journal = SettleJournal.open(join(dir, "j"));
      const { db, store, acc, clock, budgetClock } = setup({ journal });
      const { row: key } = seedKey(db, acc, { budget: { period: "day", amount_micros: 10 * USD } });
      store.reserve({ accountId: acc, keyId: key.id, requestId: "r1", amount: USD });
      await store.settle("r1", 700_000);
      expect(await store.settle("r1", 700_000)).toBeNull();
      // Journaled, not yet in SQLite: the check counts it already.
      expect(spendRows(db)).toEqual([]);
      expect(store.budgets({ capKeyId: key.id, memberId: null })[0]!.spent).toBe(700_000);
      const records = journal.read();
      store.catchUp();
      expect(spendRows(db)).toEqual([{ owner: `key:${key.id}`, day: budgetClock.dayStart(clock.now()), spent_micros: 700_000 }]);
      // A crash between writing and emptying the journal applies it again: the ledger's unique id keeps it once.
      new SettleWriter(db, budgetClock).commit(records);
      expect(spendRows(db)[0]!.spent_micros).toBe(700_000);
      expect(store.budgets({ capKeyId: key.id, memberId: null })[0]!.spent).toBe(700_000);
      expect(await checkLedger(db)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the period's spend equals the sum of its charges in the ledger", async () => {
    const { db, store, acc, clock } = setup();
    const { row: key } = seedKey(db, acc, { budget: { period: "month", amount_micros: 100 * USD } });
    let sum = 0;
    for (let i = 0; i < 40; i++) {
      const amount = 10_000 + ((i * 7919) % 90_000);
      store.reserve({ accountId: acc, keyId: key.id, requestId: `r${i}`, amount: 100_000 });
      await store.settle(`r${i}`, amount);
      sum += amount;
      // Twenty days from mid-December: the month changes on the way.
      clock.advance(12 * 3_600_000);
    }
    const ledger = db.sqlite.query<{ s: number }, [string]>("SELECT -sum(amount_micros) AS s FROM ledger_entries WHERE kind = 'charge' AND key_id = ?").get(key.id)!.s;
    expect(ledger).toBe(sum);
    const b = store.budgets({ capKeyId: key.id, memberId: null })[0]!;
    const monthly = db.sqlite.query<{ s: number }, [string, number]>("SELECT -sum(amount_micros) AS s FROM ledger_entries WHERE kind = 'charge' AND key_id = ? AND created_at >= ?").get(key.id, b.periodStart)!.s;
    expect(b.spent).toBe(monthly);
    expect(monthly).toBeLessThan(sum);
  });

  test("days no current period can reach are deleted with the usage rollup", async () => {
    const { db, store, acc, clock } = setup();
    const { row: key } = seedKey(db, acc);
    for (const id of ["old", "new"]) {
      store.reserve({ accountId: acc, keyId: key.id, requestId: id, amount: 1000 });
      await store.settle(id, 1000);
      clock.advance(41 * 86_400_000);
    }
    expect(spendRows(db)).toHaveLength(2);
    await rollUpUsage(db, 90, clock.now() - 41 * 86_400_000 + 86_400_000);
    expect(spendRows(db)).toHaveLength(1);
  });
});
