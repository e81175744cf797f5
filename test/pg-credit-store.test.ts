/**
 * The PostgreSQL credit store with several instances on one database: leases never let them
 * hold more than a balance (or a cap, or a budget) allows, small balances are leased exactly, a
 * request id is charged once whichever instance settles it, a dead instance's lease comes back
 * after its TTL (and at once when its id is claimed again), a lowered limit takes back what is
 * leased above it, and every balance stays the sum of its ledger.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql, type SQL } from "drizzle-orm";
import { BudgetClock } from "../src/money/budget-clock";
import { postCredit } from "../src/money/ledger";
import { PgCreditStore } from "../src/money/pg/pg-credit-store";
import { StoredObjects } from "../src/gateway/stored-objects";
import { claimInstance } from "../src/runtime/pg-runtime";
import { PgStore } from "../src/store/pg-store";
import { rows, run } from "../src/store/work";
import { pgAccount, pgCredit, tryHold } from "./support/pg-credit";
import { freshPostgres } from "./support/postgres";

let url: string;
const stores: PgStore[] = [];
beforeAll(async () => {
  url = await freshPostgres();
});
afterAll(async () => {
  for (const s of stores) await s.close();
});

async function open(): Promise<PgStore> {
  const s = await PgStore.open(url);
  stores.push(s);
  return s;
}

/** Three small stores the later tests share: instances are told apart by id, and a pool per test would exhaust the server. */
let few: [PgStore, PgStore, PgStore] | null = null;
async function shared(): Promise<[PgStore, PgStore, PgStore]> {
  if (!few) {
    const small = () => PgStore.open(url, { poolSize: 4 });
    few = [await small(), await small(), await small()];
    stores.push(...few);
  }
  return few;
}

/** Request ids of the tests (accounts come from pgAccount). */
let seq = 0;
const account = pgAccount;
const credit = pgCredit;

/** A write with its change notification, as the admin API makes it; resolves once every store heard it. */
async function notified(write: () => Promise<unknown>, ...heard: PgStore[]): Promise<void> {
  const stamps = heard.map((d) => d.changeStamp());
  await write();
  while (heard.some((d, i) => d.changeStamp() === stamps[i])) await Bun.sleep(5);
}

const update = (db: PgStore, statement: SQL) => notified(() => db.tx(() => run(statement), { notify: true }), db);

async function ledger(db: PgStore, accountId: string) {
  const [r] = await db.read((q) =>
    rows<{ b: string; s: string; n: string }>(
      sql`SELECT a.balance_micros AS b, (SELECT coalesce(sum(amount_micros), 0) FROM ledger_entries WHERE account_id = a.id) AS s,
            (SELECT count(*) FROM ledger_entries WHERE account_id = a.id AND kind = 'charge') AS n FROM accounts a WHERE a.id = ${accountId}`,
    ),
  );
  return { balance: Number(r!.b), sum: Number(r!.s), charges: Number(r!.n) };
}

describe("PostgreSQL credit leases", () => {
  test("200 concurrent holds over 3 instances on a balance for exactly 10: exactly 10 admitted", async () => {
    const dbs = [await open(), await open(), await open()];
    const cs = dbs.map((d, i) => credit(d, `inst_${i}`));
    const o = await account(dbs[0]!, 10 * 1_000);
    const admitted = await Promise.all(Array.from({ length: 200 }, (_, i) => tryHold(cs[i % 3]!, o, `req_x${i}`, 1_000)));
    expect(admitted.filter(Boolean).length).toBe(10);
    await Promise.all(admitted.map((ok, i) => (ok ? cs[i % 3]!.settle(`req_x${i}`, 1_000) : null)));
    expect(await ledger(dbs[0]!, o.accountId)).toEqual({ balance: 0, sum: 0, charges: 10 });
  });

  test("a Responses object is recorded with its settlement; another instance reads it; the first creator keeps an id", async () => {
    const [a, b] = await shared();
    const ca = credit(a, "inst_obj_a");
    const cb = credit(b, "inst_obj_b");
    const o = await account(a, 1_000_000);
    const object = { id: `resp_pg${seq}`, kind: "response" as const, accountId: o.accountId, keyId: o.keyId ?? null, target: "xai#0", model: "grok-4", tokens: 40, chargeMicros: 120, createdAt: 5 };
    expect(await tryHold(ca, o, `req_o${seq}`, 1_000)).toBe(true);
    await ca.settle(`req_o${seq}`, 120, { object });
    expect(await new StoredObjects(b).owned(object.id, { accountId: o.accountId })).toEqual({ ...object, responseId: null });
    expect(await new StoredObjects(b).owned(object.id, { accountId: "acc_other" })).toBeNull();
    expect(await tryHold(cb, o, `req_o2${seq}`, 1_000)).toBe(true);
    await cb.settle(`req_o2${seq}`, 1, { object: { ...object, accountId: "acc_other", chargeMicros: 1 } });
    expect((await new StoredObjects(a).owned(object.id, { accountId: o.accountId }))?.chargeMicros).toBe(120);
  });

  test("a busy account is served from a slice of its balance; settlements draw the lease down", async () => {
    const db = await open();
    const c = credit(db, "inst_slice");
    const o = await account(db, 100_000_000);
    expect(await tryHold(c, o, "req_s1", 1_000)).toBe(true);
    const leased = c.leases.peek(`acc:${o.accountId}`)!.leased;
    expect(leased).toBeGreaterThanOrEqual(100_000_000 / 8);
    // The next holds need no database round trip: the lease covers them.
    for (let i = 2; i <= 50; i++) c.reserve({ ...o, requestId: `req_s${i}`, amount: 1_000 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => c.settle(`req_s${i + 1}`, 700)));
    expect(await ledger(db, o.accountId)).toEqual({ balance: 100_000_000 - 50 * 700, sum: 100_000_000 - 50 * 700, charges: 50 });
    const [l] = await db.read((q) => rows<{ a: string }>(sql`SELECT amount_micros AS a FROM credit_leases WHERE scope = ${`acc:${o.accountId}`}`));
    expect(Number(l!.a)).toBe(leased - 50 * 1_000);
  });

  test("a deferred request's detached hold stays past the hold TTL, until its request is settled", async () => {
    const db = await open();
    let t = Date.now();
    const c = credit(db, "inst_detach", () => t);
    const o = await account(db, 1_000);
    expect(await tryHold(c, o, "req_deferred", 1_000)).toBe(true);
    c.detach("req_deferred");
    t += 61_000;
    expect(await c.sweep(t)).toBe(0);
    expect(c.balance(o.accountId).held).toBe(1_000);
    expect(await tryHold(c, o, "req_other", 1_000)).toBe(false);
    await c.settle("req_deferred", 900);
    expect(await ledger(db, o.accountId)).toEqual({ balance: 100, sum: 100, charges: 1 });
  });

  test("one request id is charged once, whichever instances settle it", async () => {
    const [a, b] = [await open(), await open()];
    const [ca, cb] = [credit(a, "inst_dup_a"), credit(b, "inst_dup_b")];
    const o = await account(a, 1_000_000);
    for (const c of [ca, cb]) {
      (await c.prepare(o, 5_000))();
      c.reserve({ ...o, requestId: "req_same", amount: 5_000 });
    }
    const results = await Promise.all([ca.settle("req_same", 4_000), cb.settle("req_same", 4_000)]);
    expect(results.map((r) => r!.charged).sort()).toEqual([0, 4_000]);
    expect(await ledger(a, o.accountId)).toEqual({ balance: 996_000, sum: 996_000, charges: 1 });
  });

  test("a key's spending cap is leased too: instances together never pass it", async () => {
    const dbs = [await open(), await open()];
    const cs = dbs.map((d, i) => credit(d, `inst_cap_${i}`));
    const o = await account(dbs[0]!, 1_000_000_000, { cap: 5_000 });
    const admitted = await Promise.all(Array.from({ length: 40 }, (_, i) => tryHold(cs[i % 2]!, o, `req_c${i}`, 1_000)));
    expect(admitted.filter(Boolean).length).toBe(5);
    const refused = cs[0]!.spendable(o);
    expect(refused.amount).toBeLessThan(1_000);
    expect(refused.refuse().code).toBe("spend_cap_reached");
    // Named in a 402 that a large output limit causes (see gateway/hold.ts).
    expect(refused.limit?.()).toBe("this API key's spending cap");
  });

  test("a dead instance's lease returns to the account after its TTL", async () => {
    const [a, b] = [await open(), await open()];
    let now = Date.now();
    const clock = () => now;
    const dead = credit(a, "inst_dead", clock);
    const alive = credit(b, "inst_alive", clock);
    const o = await account(a, 10_000);
    expect(await tryHold(dead, o, "req_d1", 10_000)).toBe(true);
    expect(await tryHold(alive, o, "req_d2", 1_000)).toBe(false);
    // The dead instance never renews; two seconds later its lease has expired.
    now += 2_500;
    expect(await tryHold(alive, o, "req_d3", 10_000)).toBe(true);
    // And the dead instance no longer hands out what it had leased.
    expect(dead.spendable(o).amount).toBe(0);
    // Were it only cut off, its next lease would cover its hold in flight first: nothing more is
    // admitted there. That request is still charged when it ends: the balance goes below zero by
    // what the instance held when its lease expired, and no further.
    expect(await tryHold(dead, o, "req_d4", 1_000)).toBe(false);
    await Promise.all([dead.settle("req_d1", 10_000), alive.settle("req_d3", 10_000)]);
    expect(await ledger(a, o.accountId)).toEqual({ balance: -10_000, sum: -10_000, charges: 2 });
  });

  test("a process restarted under a dead one's instance id does not keep the dead one's leases alive", async () => {
    const [a, b, c] = await shared();
    let now = Date.now();
    const clock = () => now;
    const o = await account(a, 10_000);
    expect(await tryHold(credit(a, "inst_gw", clock), o, "req_g1", 10_000)).toBe(true);
    // The process dies; the next one under its id renews its own leases, every second for 20 s.
    const next = credit(b, "inst_gw", clock);
    for (let i = 0; i < 20; i++) {
      now += 1_000;
      await next.leases.maintain();
    }
    expect(await tryHold(credit(c, "inst_gw_other", clock), o, "req_g2", 10_000)).toBe(true);
  });

  test("claiming an instance id deletes the leases a previous process left under it", async () => {
    const [a, b] = await shared();
    const o = await account(a, 10_000);
    expect(await tryHold(credit(a, "inst_claimed"), o, "req_k1", 10_000)).toBe(true);
    await claimInstance(b, "inst_claimed", "host-b:1", Date.now());
    expect(await tryHold(credit(b, "inst_claimed_other"), o, "req_k2", 10_000)).toBe(true);
  });

  test("a lowered spending cap takes back what is leased above it, from the next request", async () => {
    const [db] = await shared();
    const c = credit(db, "inst_lowered");
    const o = await account(db, 1_000_000_000, { cap: 1_000_000_000 });
    expect(await tryHold(c, o, "req_l0", 10_000)).toBe(true);
    expect(c.leases.peek(`cap:${o.keyId}`)!.leased).toBeGreaterThan(100_000_000);
    await update(db, sql`UPDATE api_keys SET spend_cap_micros = 20000 WHERE id = ${o.keyId}`);
    await c.settle("req_l0", 10_000);
    const admitted: boolean[] = [];
    for (let i = 1; i <= 50; i++) {
      admitted.push(await tryHold(c, o, `req_l${i}`, 10_000));
      if (admitted.at(-1)) await c.settle(`req_l${i}`, 10_000);
    }
    expect(admitted.slice(0, 2)).toEqual([true, false]);
    expect(admitted.filter(Boolean).length).toBe(1);
    const [k] = await db.read((q) => rows<{ s: string }>(sql`SELECT spent_micros AS s FROM api_keys WHERE id = ${o.keyId}`));
    expect(Number(k!.s)).toBe(20_000);
  });

  test("a refund that takes the balance to zero takes back every instance's lease on it", async () => {
    const [a, b] = await shared();
    const [ca, cb] = [credit(a, "inst_refund_a"), credit(b, "inst_refund_b")];
    const o = await account(a, 1_000_000);
    for (const [i, c] of [ca, cb].entries()) {
      expect(await tryHold(c, o, `req_f${i}`, 10_000)).toBe(true);
      await c.settle(`req_f${i}`, 10_000);
    }
    // Both still lease a slice of what was left; Stripe's refund then takes all of it back.
    expect(ca.spendable(o).amount).toBeGreaterThan(10_000);
    const refund = { accountId: o.accountId, amountMicros: -980_000, kind: "refund" as const, ref: "re_t1", actor: "test", heldMicros: 0, allowNegative: true };
    await notified(() => postCredit(a, refund), a, b);
    for (let i = 0; i < 10; i++) {
      expect(await tryHold(ca, o, `req_fa${i}`, 10_000)).toBe(false);
      expect(await tryHold(cb, o, `req_fb${i}`, 10_000)).toBe(false);
    }
    expect(await ledger(a, o.accountId)).toEqual({ balance: 0, sum: 0, charges: 2 });
  });

  test("a lease that expired unrenewed is not revived: leasing again covers the holds in flight first", async () => {
    const [a, b] = await shared();
    let now = Date.now();
    const clock = () => now;
    const [cut, other] = [credit(a, "inst_cut", clock), credit(b, "inst_cut_other", clock)];
    const o = await account(a, 160_000);
    // A slice of 20,000, half of it held by a request in flight; then no renewal (cut off from PostgreSQL).
    expect(await tryHold(cut, o, "req_e1", 10_000)).toBe(true);
    expect(cut.leases.peek(`acc:${o.accountId}`)!.leased).toBe(20_000);
    now += 2_500;
    expect(await tryHold(other, o, "req_e2", 150_000)).toBe(true);
    // Back: the renewal comes too late (the row is gone); the 10,000 left covers its hold in flight.
    await cut.leases.maintain();
    expect(await tryHold(cut, o, "req_e3", 10_000)).toBe(false);
    await Promise.all([cut.settle("req_e1", 10_000), other.settle("req_e2", 150_000)]);
    expect(await ledger(a, o.accountId)).toEqual({ balance: 0, sum: 0, charges: 2 });
  });

  test("a budget's new period counts the holds still in flight from the last one", async () => {
    const [db] = await shared();
    const day = 86_400_000;
    // 23:59:59 UTC.
    let now = Math.floor(Date.now() / day) * day + day - 1_000;
    const c = new PgCreditStore(db, { instanceId: "inst_midnight", holdTtlMs: 60_000, budgetClock: new BudgetClock(), now: () => now });
    const o = await account(db, 1_000_000_000);
    await update(db, sql`UPDATE api_keys SET budget_micros = 1000000, budget_period = 'day' WHERE id = ${o.keyId}`);
    expect(await tryHold(c, o, "req_m1", 900_000)).toBe(true);
    now += 2_000;
    expect(await tryHold(c, o, "req_m2", 1_000_000)).toBe(false);
    expect(await tryHold(c, o, "req_m3", 100_000)).toBe(true);
  });
});
