/**
 * A simulator of three PostgreSQL credit stores (instances) on one database, driven by random
 * commands: holds on any instance, settlements with overage, releases, top-ups and debits,
 * lease maintenance, instances that die. After every step no account has more held than it has
 * credit (overage aside); at the end every balance is its credit less its charges, once per
 * request id, and the sum of its ledger.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { sql } from "drizzle-orm";
import { ApiError } from "../src/lib/errors";
import { BudgetClock } from "../src/money/budget-clock";
import type { SpendOwners } from "../src/money/credit-store";
import { postCredit } from "../src/money/ledger";
import { PgCreditStore } from "../src/money/pg/pg-credit-store";
import { PgStore } from "../src/store/pg-store";
import { rows, run } from "../src/store/work";
import { freshPostgres } from "./support/postgres";

let db: PgStore;
beforeAll(async () => {
  db = await PgStore.open(await freshPostgres());
});
afterAll(async () => {
  await db?.close();
});

const cmd = fc.oneof(
  fc.record({ t: fc.constant("hold" as const), inst: fc.nat(2), acc: fc.nat(1), amount: fc.integer({ min: 1, max: 3_000 }) }),
  fc.record({ t: fc.constant("settle" as const), pick: fc.nat(), ratio: fc.double({ min: 0, max: 1.5, noNaN: true }) }),
  fc.record({ t: fc.constant("release" as const), pick: fc.nat() }),
  fc.record({ t: fc.constant("credit" as const), acc: fc.nat(1), amount: fc.integer({ min: -4_000, max: 4_000 }) }),
  fc.record({ t: fc.constant("maintain" as const), inst: fc.nat(2) }),
  fc.record({ t: fc.constant("burst" as const), inst: fc.nat(2), acc: fc.nat(1), n: fc.integer({ min: 2, max: 12 }), amount: fc.integer({ min: 1, max: 2_000 }) }),
);

let seq = 0;
async function account(balance: number): Promise<SpendOwners> {
  const id = `acc_p${++seq}`;
  await db.tx(function* (q) {
    yield* run(q.db.insert(q.t.accounts).values({ id, name: id, balanceMicros: balance, createdAt: 1 }));
    yield* run(q.db.insert(q.t.ledgerEntries).values({ accountId: id, kind: "topup", amountMicros: balance, balanceAfterMicros: balance, createdAt: 1 }));
  });
  return { accountId: id, keyId: null, capKeyId: null, memberId: null };
}

type Hold = { id: string; inst: number; acc: number; amount: number };

async function scenario(initial: number[], cmds: { t: string; [k: string]: number | string }[]): Promise<void> {
  const run = ++seq;
  const insts = [0, 1, 2].map((i) => new PgCreditStore(db, { instanceId: `p${run}_${i}`, holdTtlMs: 60_000, budgetClock: new BudgetClock() }));
  const owners = [await account(initial[0]!), await account(initial[1]!)];
  const credited = [...initial];
  const charged = [0, 0];
  let overage = [0, 0];
  const open: Hold[] = [];
  const settling: Promise<unknown>[] = [];
  let n = 0;

  const hold = async (inst: number, acc: number, amount: number) => {
    const id = `req_p${run}_${++n}`;
    (await insts[inst]!.prepare(owners[acc]!, amount))();
    try {
      insts[inst]!.reserve({ ...owners[acc]!, requestId: id, amount, freshId: true, live: true });
    } catch (e) {
      if ((e as ApiError).status !== 402) throw e;
      return;
    }
    open.push({ id, inst, acc, amount });
    // Never more held than there is credit: what is held plus what was charged fits what was credited.
    const heldNow = open.filter((h) => h.acc === acc).reduce((s, h) => s + h.amount, 0);
    expect(heldNow + charged[acc]! - overage[acc]!).toBeLessThanOrEqual(credited[acc]!);
  };
  const settle = (h: Hold, actual: number | "release") => {
    open.splice(open.indexOf(h), 1);
    const s = insts[h.inst]!;
    if (actual === "release") return settling.push(s.release(h.id));
    charged[h.acc]! += actual;
    overage[h.acc]! += Math.max(0, actual - h.amount);
    settling.push(s.settle(h.id, actual));
  };

  for (const c of cmds) {
    if (c.t === "hold") await hold(c.inst as number, c.acc as number, c.amount as number);
    else if (c.t === "burst") await Promise.all(Array.from({ length: c.n as number }, () => hold(c.inst as number, c.acc as number, c.amount as number)));
    else if (c.t === "settle" && open.length) { const h = open[(c.pick as number) % open.length]!; settle(h, Math.round(h.amount * (c.ratio as number))); }
    else if (c.t === "release" && open.length) settle(open[(c.pick as number) % open.length]!, "release");
    else if (c.t === "maintain") await insts[c.inst as number]!.leases.maintain();
    else if (c.t === "credit") {
      await Promise.all(settling.splice(0));
      try {
        await postCredit(db, { accountId: owners[c.acc as number]!.accountId, amountMicros: c.amount as number, actor: "test", heldMicros: 0 });
        credited[c.acc as number]! += c.amount as number;
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 400 || (c.amount as number) >= 0) throw e;
      }
    }
  }
  for (const h of [...open]) settle(h, h.amount % 2 ? "release" : h.amount);
  await Promise.all(settling);
  for (const i of insts) await i.flush();
  for (const i of insts) await i.leases.releaseAll();
  overage = [0, 0];

  for (const [a, o] of owners.entries()) {
    const [r] = await db.read((q) => rows<{ b: string; s: string; c: string }>(sql`
      SELECT a.balance_micros AS b, (SELECT coalesce(sum(amount_micros), 0) FROM ledger_entries WHERE account_id = a.id) AS s,
             (SELECT coalesce(sum(-amount_micros), 0) FROM ledger_entries WHERE account_id = a.id AND kind = 'charge') AS c
      FROM accounts a WHERE a.id = ${o.accountId}`));
    expect(Number(r!.b)).toBe(credited[a]! - charged[a]!);
    expect(Number(r!.s)).toBe(Number(r!.b));
    expect(Number(r!.c)).toBe(charged[a]!);
  }
  const [left] = await db.read((q) => rows<{ n: string }>(sql`SELECT count(*) AS n FROM credit_leases WHERE instance_id LIKE ${`p${run}_%`} AND amount_micros > 0`));
  expect(Number(left!.n)).toBe(0);
}

describe("PostgreSQL credit stores, three instances, random commands", () => {
  test("never more held than credited; balances, ledgers and charges exact at the end", async () => {
    const initial = fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 2, maxLength: 2 });
    await fc.assert(fc.asyncProperty(initial, fc.array(cmd, { minLength: 1, maxLength: 40 }), (i, c) => scenario(i, c)), { numRuns: 40 });
  }, 120_000);
});
