/**
 * PostgreSQL credit stores driven directly, as instances do (no gateway): accounts to spend from,
 * a store per instance id, and a hold taken the way admission takes it.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { sql } from "drizzle-orm";
import { BudgetClock } from "../../src/money/budget-clock";
import type { SpendOwners } from "../../src/money/credit-store";
import { PgCreditStore } from "../../src/money/pg/pg-credit-store";
import { PgStore } from "../../src/store/pg-store";
import { run } from "../../src/store/work";
import { freshPostgres } from "./postgres";

let seq = 0;

/** An account with `balance` micros (a top-up entry, so that balance = sum of ledger) and a key, with a cap and a monthly budget if given. */
export async function pgAccount(db: PgStore, balance: number, key: { cap?: number; monthlyBudget?: number } = {}): Promise<SpendOwners> {
  const id = `acc_t${++seq}`;
  const keyId = `key_t${seq}`;
  await db.tx(function* (q) {
    yield* run(q.db.insert(q.t.accounts).values({ id, name: id, balanceMicros: balance, createdAt: 1 }));
    yield* run(q.db.insert(q.t.ledgerEntries).values({ accountId: id, kind: "topup", amountMicros: balance, balanceAfterMicros: balance, createdAt: 1 }));
    yield* run(q.db.insert(q.t.apiKeys).values({ id: keyId, accountId: id, hash: keyId, prefix: "sk-", last4: "abcd", spendCapMicros: key.cap ?? null, createdAt: 1 }));
    if (key.monthlyBudget !== undefined) yield* run(sql`UPDATE api_keys SET budget_micros = ${key.monthlyBudget}, budget_period = 'month' WHERE id = ${keyId}`);
  });
  return { accountId: id, keyId, capKeyId: keyId, memberId: null };
}

/** The credit store of instance `name` on `db`; with `now`, a clock of the test's and short leases. */
export const pgCredit = (db: PgStore, name: string, now?: () => number) =>
  new PgCreditStore(db, { instanceId: name, holdTtlMs: 60_000, budgetClock: new BudgetClock(), now, leaseTtlMs: now ? 2_000 : undefined });

/** prepare + reserve as admission does; false when refused (402). */
export async function tryHold(c: PgCreditStore, o: SpendOwners, requestId: string, amount: number): Promise<boolean> {
  // As admission does: what prepare promised this request is taken back right before it holds.
  (await c.prepare(o, amount))();
  try {
    c.reserve({ ...o, requestId, amount, freshId: true, live: true });
    return true;
  } catch (e) {
    expect((e as { status?: number }).status).toBe(402);
    return false;
  }
}

/**
 * Two connections to one fresh database, as two instances have, opened before the tests of the
 * describe block that calls this and closed after them (read `a` and `b` inside the tests).
 */
export function twoPgStores(): { readonly a: PgStore; readonly b: PgStore } {
  const open: PgStore[] = [];
  beforeAll(async () => {
    const url = await freshPostgres();
    open.push(await PgStore.open(url, { poolSize: 4 }), await PgStore.open(url, { poolSize: 4 }));
  });
  afterAll(async () => {
    for (const db of open) await db.close();
  });
  return {
    get a() {
      return open[0]!;
    },
    get b() {
      return open[1]!;
    },
  };
}
