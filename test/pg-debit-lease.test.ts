/**
 * An admin debit (POST /admin/accounts/:id/credits, negative) that waits on the account's lock
 * while an instance's lease of that credit commits. Expected (operations.md: "An admin debit
 * cannot take credit an instance leases"): the debit is refused, and Σ live leases ≤ balance.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "drizzle-orm";
import { postCredit } from "../src/money/ledger";
import { acquireLease } from "../src/money/pg/lease-sql";
import { accountScope } from "../src/money/pg/scopes";
import { PgStore } from "../src/store/pg-store";
import { rows, run } from "../src/store/work";
import { freshPostgres } from "./support/postgres";

setDefaultTimeout(60_000);
let a: PgStore;
let b: PgStore;
beforeAll(async () => {
  const url = await freshPostgres();
  a = await PgStore.open(url, { poolSize: 4 });
  b = await PgStore.open(url, { poolSize: 4, migrate: false });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

test("a debit that waited for the account's lock sees the lease committed meanwhile", async () => {
  const id = "acc_race";
  await a.tx(function* (q) {
    yield* run(q.db.insert(q.t.accounts).values({ id, name: id, balanceMicros: 1_000, createdAt: 1 }));
    yield* run(q.db.insert(q.t.ledgerEntries).values({ accountId: id, kind: "topup", amountMicros: 1_000, balanceAfterMicros: 1_000, createdAt: 1 }));
  });
  const now = Date.now();
  // Instance i1 leases the whole balance for a request (what LeaseBook.acquire runs), its commit a little slow.
  const leasing = a.tx(function* (q) {
    const got = yield* acquireLease(q, accountScope(id), "i1", { want: 1_000, keep: 0, afresh: 1_000 }, now, 30_000);
    yield* rows(sql`SELECT pg_sleep(0.3)`);
    return got;
  }, { isolation: "read committed" });
  await Bun.sleep(100);
  // The admin debits the whole balance meanwhile (on another instance): it waits for the lock.
  const debit = postCredit(b, { accountId: id, amountMicros: -1_000, actor: "admin", heldMicros: 0 }).then(() => "posted", (e) => (e as { code?: string }).code ?? String(e));
  const got = await leasing;
  expect(got.leased).toBe(1_000);
  const outcome = await debit;
  const [r] = await a.read((q) => rows<{ bal: string; leased: string }>(sql`SELECT (SELECT balance_micros FROM accounts WHERE id = ${id}) AS bal,
    (SELECT coalesce(sum(amount_micros),0) FROM credit_leases WHERE scope = ${`acc:${id}`} AND expires_at > ${Date.now()}) AS leased`));
  console.log({ outcome, balance: Number(r!.bal), leased: Number(r!.leased) });
  expect(outcome).toBe("insufficient_available_credit");
  expect(Number(r!.leased)).toBeLessThanOrEqual(Number(r!.bal));
});
