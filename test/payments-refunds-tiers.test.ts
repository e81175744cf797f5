/**
 * Usage tiers scale limits with what a customer has paid: a payment refunded (or lost in a
 * dispute) was never paid, so it no longer counts towards a tier, on either store (tiers still
 * only move accounts up: the refund demotes nobody). Never below zero.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eq } from "drizzle-orm";
import { postCredit } from "../src/money/ledger";
import { PgStore } from "../src/store/pg-store";
import { SqliteStore } from "../src/store/sqlite-store";
import type { Store } from "../src/store/store";
import { get, run } from "../src/store/work";
import { deliver, paidSession, refundedCharge, stripeEvent } from "./support/fake-stripe";
import { freshPostgres } from "./support/postgres";
import { stripeGateway } from "./support/stripe-gateway";

setDefaultTimeout(120_000);
const USD = 1_000_000;
const ctx = stripeGateway({
  topup_max: "1000",
  tiers: [{ min_lifetime_topup_usd: 50, plan: "pro" }, { min_lifetime_topup_usd: 500, plan: "scale" }],
  plans: { pro: { rpm: 3000, tpm: 5_000_000, concurrency: 100 }, scale: { rpm: 6000, tpm: 9_000_000, concurrency: 200 } },
});

async function pay(key: string, amount: string, intent: string) {
  const res = await fetch(`${ctx.gw.url}/v1/billing/checkout`, {
    method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ amount }),
  });
  expect(res.status).toBe(201);
  const view = (await res.json()) as { stripe_session_id: string };
  const r = await deliver(ctx.gw.url, stripeEvent("checkout.session.completed", paidSession(ctx.stripe.sessions.get(view.stripe_session_id)!, intent)));
  expect(((await r.json()) as { result: string }).result).toBe("credited");
}
const account = async (id: string) => (await (await ctx.gw.admin(`/admin/accounts/${id}`)).json()) as { balance_micros: number; plan: string; lifetime_topup_micros: number };

describe("a refunded payment and the usage tiers", () => {
  test("60 USD paid and refunded, then 450 paid: the 50 USD tier, not the 500 one; the refund demoted nobody", async () => {
    const c = await ctx.gw.customer(0);
    const first = `pi_t1_${crypto.randomUUID().slice(0, 8)}`;
    await pay(c.key, "60", first);
    expect((await account(c.accountId)).plan).toBe("pro");
    await deliver(ctx.gw.url, stripeEvent("charge.refunded", refundedCharge(first, 6000, 6000)));
    expect(await account(c.accountId)).toMatchObject({ balance_micros: 0, plan: "pro", lifetime_topup_micros: 0 });
    await pay(c.key, "450", `pi_t2_${crypto.randomUUID().slice(0, 8)}`);
    expect(await account(c.accountId)).toMatchObject({ balance_micros: 450 * USD, plan: "pro", lifetime_topup_micros: 450 * USD });
  });
});

describe("on both stores", () => {
  let pg: PgStore;
  let lite: SqliteStore;
  beforeAll(async () => {
    pg = await PgStore.open(await freshPostgres(), { poolSize: 2 });
    lite = new SqliteStore(":memory:");
    lite.migrate();
  });
  afterAll(async () => {
    await pg?.close();
    lite?.close();
  });

  for (const name of ["sqlite", "postgres"] as const) {
    test(`${name}: a refund takes what it refunds off the lifetime top-up, never below zero`, async () => {
      const store: Store = name === "sqlite" ? lite : pg;
      const id = `acc_tiers_${name}`;
      await store.tx((q) => run(q.db.insert(q.t.accounts).values({ id, name: id, balanceMicros: 0, createdAt: 1 })));
      const post = (amountMicros: number, kind?: "refund") => postCredit(store, { accountId: id, amountMicros, kind, actor: "test", heldMicros: 0, allowNegative: true, ref: kind ? `re_${amountMicros}` : undefined });
      const lifetime = async () => Number((await store.read((q) => get(q.db.select({ n: q.t.accounts.lifetimeTopupMicros }).from(q.t.accounts).where(eq(q.t.accounts.id, id)))))!.n);
      await post(30 * USD);
      await post(-10 * USD, "refund");
      expect(await lifetime()).toBe(20 * USD);
      await post(-25 * USD, "refund");
      expect(await lifetime()).toBe(0);
    });
  }
});

