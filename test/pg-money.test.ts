/**
 * The money services on both stores: credits and adjustments (Idempotency-Key replay, conflict and
 * races), the ledger check, credit codes (and their batches, paged by cursor), Stripe payments
 * (one credit per event even when it arrives twice at once, refunds, deferred refunds, disputes)
 * and low-balance alerts (once per crossing when two processes race). Each store is opened twice
 * on one database, as two gateway processes would; every flow ends with every balance equal to the
 * sum of its ledger entries.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { loadConfig } from "../src/config/load";
import type { ApiError } from "../src/lib/errors";
import { createAccount, getAccountRow, listAccounts } from "../src/modules/accounts/service";
import { listAudit } from "../src/modules/audit/service";
import { AlertNotifier } from "../src/modules/alerts/notifier";
import { AlertService } from "../src/modules/alerts/service";
import type { BillingSettings } from "../src/modules/billing/amounts";
import { getPayment, listPayments } from "../src/modules/billing/service";
import { handleStripeEvent } from "../src/modules/billing/webhook";
import { batchCursor, codeCursor, createCodes, listBatches, listCodes, redeemCode } from "../src/modules/codes/service";
import { checkLedger, listLedger, postCredit } from "../src/money/ledger";
import { PgStore } from "../src/store/pg-store";
import { openStore, SqliteStore } from "../src/store/sqlite-store";
import type { Store } from "../src/store/store";
import { rows, run } from "../src/store/work";
import { rejectionOf } from "./support/foundation";
import { freshPostgres } from "./support/postgres";

const USD = 1_000_000;

/** Two connections to one database, as two gateway processes have. */
interface Pair {
  a: Store;
  b: Store;
  close(): Promise<void>;
}

const kinds: { name: string; open: () => Promise<Pair> }[] = [
  {
    name: "sqlite",
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), "tollgate-pg-money-"));
      const a = openStore(join(dir, "t.db"));
      const b = new SqliteStore(join(dir, "t.db"));
      return { a, b, close: async () => (a.close(), b.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  },
  {
    name: "postgres",
    open: async () => {
      const url = await freshPostgres();
      const a = await PgStore.open(url);
      const b = await PgStore.open(url, { migrate: false });
      return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
    },
  },
];

const balanceOf = async (store: Store, id: string) => (await getAccountRow(store, id)).balanceMicros;
const apiError = async (p: Promise<unknown>) => (await rejectionOf(p)) as ApiError;

async function customer(store: Store, micros = 0, name = "Acme"): Promise<string> {
  const { id } = await createAccount(store, { name }, "test");
  if (micros) await postCredit(store, { accountId: id, amountMicros: micros, actor: "test", heldMicros: 0 });
  return id;
}

for (const { name, open } of kinds) {
  describe(`money on ${name}`, () => {
    let s: Pair;
    beforeAll(async () => {
      s = await open();
    });
    afterAll(async () => {
      // Every flow leaves every balance equal to the sum of its ledger entries.
      expect(await checkLedger(s.a)).toEqual([]);
      await s?.close();
    });

    test("account search finds any letter in either case, and takes wildcards literally", async () => {
      const ecole = await customer(s.a, 0, "ÉCOLE Paris");
      const straße = await customer(s.a, 0, "Straße [Test] 50% *");
      const ids = async (q: string) => (await listAccounts(s.b, { limit: 10, offset: 0, q })).map((a) => a.id);
      for (const q of ["école", "ÉCOLE", "École paris", "cole p"]) expect([q, await ids(q)]).toEqual([q, [ecole]]);
      for (const q of ["straße", "[test]", "50% *"]) expect([q, await ids(q)]).toEqual([q, [straße]]);
      expect(await ids("5_%")).toEqual([]);
    });

    test("credits and adjustments: Idempotency-Key replay and conflict, available credit, a tier, audit", async () => {
      const acc = await customer(s.a);
      const p = { accountId: acc, amountMicros: 5 * USD, note: "invoice 7", actor: "admin", heldMicros: 0, idempotencyKey: "k-1" };
      const first = await postCredit(s.a, p);
      expect(first).toMatchObject({ replayed: false, entry: { kind: "topup", amount_micros: 5 * USD, balance_after_micros: 5 * USD } });
      const again = await postCredit(s.b, p);
      expect(again).toEqual({ entry: first.entry, replayed: true });
      expect(await apiError(postCredit(s.a, { ...p, amountMicros: 6 * USD }))).toMatchObject({ status: 409, code: "idempotency_key_reused" });

      const adj = await postCredit(s.a, { accountId: acc, amountMicros: -1_500_000, actor: "admin", heldMicros: 0 });
      expect(adj.entry).toMatchObject({ kind: "adjustment", amount_usd: "-1.5", balance_after_micros: 3_500_000 });
      const refused = await apiError(postCredit(s.a, { accountId: acc, amountMicros: -3 * USD, actor: "admin", heldMicros: USD, idempotencyKey: "k-2" }));
      expect(refused).toMatchObject({ status: 400, code: "insufficient_available_credit", param: "amount_micros" });
      expect(await apiError(postCredit(s.a, { accountId: "acc_missing", amountMicros: 1, actor: "admin", heldMicros: 0 }))).toMatchObject({ status: 404 });
      // The refused request did not burn its key.
      expect((await postCredit(s.a, { accountId: acc, amountMicros: -USD, actor: "admin", heldMicros: 0, idempotencyKey: "k-2" })).replayed).toBe(false);

      expect(await balanceOf(s.a, acc)).toBe(2_500_000);
      expect((await getAccountRow(s.a, acc)).lifetimeTopupMicros).toBe(5 * USD);
      expect((await listLedger(s.b, acc, { limit: 10 })).map((l) => l.amountMicros)).toEqual([-USD, -1_500_000, 5 * USD]);
      const audit = await listAudit(s.a, { limit: 10, targetId: acc });
      expect(audit.filter((a) => a.action.startsWith("credits.")).map((a) => a.action)).toEqual(["credits.adjustment", "credits.adjustment", "credits.topup"]);

      // Usage tiers: a top-up that reaches a tier moves the account's plan in the same transaction.
      const policy = { plans: {}, default_plan: "default", tiers: [{ plan: "pro", min_lifetime_topup_micros: 10 * USD }] };
      await s.a.tx((q) => run(q.db.insert(q.t.settings).values({ key: "ratelimit_policy", value: JSON.stringify(policy) })));
      await postCredit(s.b, { accountId: acc, amountMicros: 5 * USD, actor: "admin", heldMicros: 0 });
      expect((await getAccountRow(s.a, acc)).plan).toBe("pro");
      expect((await listAudit(s.a, { limit: 1, targetId: acc }))[0]).toMatchObject({ action: "account.tier", after: { plan: "pro" } });
      await s.a.tx((q) => run(q.db.delete(q.t.settings).where(eq(q.t.settings.key, "ratelimit_policy"))));
    });

    test("one credit per Idempotency-Key when the same request arrives at two processes at once", async () => {
      const acc = await customer(s.a);
      const p = { accountId: acc, amountMicros: 2 * USD, note: "race", actor: "admin", heldMicros: 0, idempotencyKey: "same" };
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => postCredit(i % 2 ? s.b : s.a, p)));
      expect(results.filter((r) => !r.replayed)).toHaveLength(1);
      expect(new Set(results.map((r) => r.entry.id)).size).toBe(1);
      expect(await balanceOf(s.a, acc)).toBe(2 * USD);
      expect(await listLedger(s.a, acc, { limit: 10 })).toHaveLength(1);
    });

    // A handful at once: on PostgreSQL each conflicting transaction is run again, a bounded number of times.
    test("concurrent credits, debits, redemptions and a payment: balance_after chains in order, balance = sum", async () => {
      const acc = await customer(s.a, 50 * USD, "Busy");
      const now = Date.now();
      const batch = await createCodes(s.a, { count: 2, amount_micros: USD }, "admin", now);
      await s.a.tx((q) => run(q.db.insert(q.t.payments).values({ id: "pay_busy", accountId: acc, status: "pending", currency: "usd", amountMinor: 700, creditMicros: 7 * USD, createdAt: now, updatedAt: now })));
      const store = (i: number) => (i % 2 ? s.b : s.a);
      const ops: Promise<unknown>[] = [
        ...[3, -2, 4, -1].map((usd, i) => postCredit(store(i), { accountId: acc, amountMicros: usd * USD, actor: "admin", heldMicros: 0, idempotencyKey: `busy-${i}` })),
        ...batch.codes.map((c, i) => redeemCode(store(i), acc, c.code, "key:k", now)),
        handleStripeEvent(s.b, SETTINGS, sessionEvent("evt_busy", acc, "pay_busy", 700, "pi_busy"), now),
      ];
      await Promise.all(ops);
      const entries = (await listLedger(s.a, acc, { limit: 100 })).reverse();
      expect(entries).toHaveLength(8);
      let running = 0;
      for (const e of entries) {
        running += e.amountMicros;
        expect(e.balanceAfterMicros).toBe(running);
      }
      expect(await balanceOf(s.b, acc)).toBe(running);
      expect(running).toBe((50 + 4 + 2 + 7) * USD);
      expect(await checkLedger(s.a)).toEqual([]);
    });

    test("the ledger check reports a balance that drifted from its entries", async () => {
      const acc = await customer(s.a, 5 * USD, "Drift");
      expect(await checkLedger(s.b)).toEqual([]);
      const drift = (by: number) => s.a.tx((q) => run(q.db.update(q.t.accounts).set({ balanceMicros: sql`${q.t.accounts.balanceMicros} + ${by}` }).where(eq(q.t.accounts.id, acc))));
      await drift(1);
      expect(await checkLedger(s.b)).toEqual([{ accountId: acc, balance: 5 * USD + 1, ledgerSum: 5 * USD }]);
      await drift(-1);
    });

    test("codes: create, list, redeem once, replay from the same account, refused from another, expired, raced", async () => {
      const now = Date.now();
      const batch = await createCodes(s.a, { count: 3, amount_micros: 2 * USD, note: "promo" }, "admin", now);
      expect((await listCodes(s.b, { batch: batch.batch, status: "available", limit: 10, offset: 0 }, now)).length).toBe(3);
      expect((await listAudit(s.a, { limit: 1, targetId: batch.batch }))[0]!.action).toBe("codes.create");
      const [mine, theirs] = [await customer(s.a, 0, "Mine"), await customer(s.a, 0, "Theirs")];
      const r1 = await redeemCode(s.a, mine, batch.codes[0]!.code.toLowerCase(), "key:k", now);
      expect(r1).toMatchObject({ replayed: false, entry: { kind: "redeem", amount_micros: 2 * USD } });
      const r2 = await redeemCode(s.b, mine, batch.codes[0]!.code, "key:k", now);
      expect(r2).toMatchObject({ replayed: true, entry: r1.entry });
      expect(await apiError(redeemCode(s.b, theirs, batch.codes[0]!.code, "key:t", now))).toMatchObject({ status: 409, code: "code_already_redeemed" });
      expect(await apiError(redeemCode(s.a, theirs, "TG-0000-0000-0000-0000", "key:t", now))).toMatchObject({ status: 404, code: "code_not_found" });
      const soon = await createCodes(s.a, { count: 1, amount_micros: USD, expires_at: Math.floor(now / 1000) + 1 }, "admin", now);
      expect(await apiError(redeemCode(s.a, theirs, soon.codes[0]!.code, "key:t", now + 2_000))).toMatchObject({ status: 400, code: "code_expired" });

      // Eight accounts race for one code through both processes: exactly one is credited.
      const racers = await Promise.all(Array.from({ length: 8 }, (_, i) => customer(s.a, 0, `Racer ${i}`)));
      const outcomes = await Promise.all(racers.map((id, i) => redeemCode(i % 2 ? s.b : s.a, id, batch.codes[1]!.code, "key:r", now).then(() => "ok", (e: ApiError) => e.code)));
      expect(outcomes.filter((o) => o === "ok")).toHaveLength(1);
      expect(outcomes.filter((o) => o === "code_already_redeemed")).toHaveLength(7);
      const credited = await Promise.all(racers.map((id) => balanceOf(s.a, id)));
      expect(credited.reduce((x, y) => x + y, 0)).toBe(2 * USD);

      expect(await balanceOf(s.a, mine)).toBe(2 * USD);
      expect(await balanceOf(s.a, theirs)).toBe(0);
      const [b] = (await listBatches(s.b)).filter((x) => x.batch === batch.batch);
      expect(b).toMatchObject({ count: 3, redeemed: 2, amountMicros: 2 * USD, note: "promo" });
      expect((await listCodes(s.a, { batch: batch.batch, status: "redeemed", limit: 10, offset: 0 }, now)).map((c) => c.redeemedBy).sort()).toHaveLength(2);
    });

    test("codes page by cursor in the same order on both stores, none skipped while some are redeemed", async () => {
      const now = Date.now();
      const batch = await createCodes(s.a, { count: 7, amount_micros: USD, note: "paging" }, "admin", now);
      const holder = await customer(s.a, 0, "Pager");
      const seen: string[] = [];
      let before: string | undefined;
      for (let page = 0; page < 10; page++) {
        const rows = await listCodes(page % 2 ? s.b : s.a, { batch: batch.batch, status: "available", limit: 3, before }, now);
        seen.push(...rows.map((r) => r.id));
        if (rows.length < 3) break;
        before = codeCursor(rows.at(-1)!);
        // A code already listed is redeemed between pages: with offsets, the next page would skip one.
        await redeemCode(s.a, holder, batch.codes.find((c) => c.id === rows[0]!.id)!.code, "key:p", now);
      }
      expect(seen.sort()).toEqual(batch.codes.map((c) => c.id).sort());
    });

    test("batches page by cursor in one order on both stores, ties included; a search finds one in any case", async () => {
      const tie = Date.now() + 60_000;
      const tied = [];
      for (let i = 0; i < 5; i++) tied.push((await createCodes(s.a, { count: 1, amount_micros: USD, note: i ? `tied ${i}` : "ÉCOLE d'été" }, "admin", tie)).batch);
      const all = await listBatches(s.b, { limit: 1000 });
      const order = (x: { createdAt: number; batch: string }, y: typeof x) => y.createdAt - x.createdAt || (y.batch < x.batch ? -1 : y.batch > x.batch ? 1 : 0);
      expect(all.map((b) => b.batch)).toEqual([...all].sort(order).map((b) => b.batch));
      expect(all.slice(0, 5).map((b) => b.batch).sort()).toEqual([...tied].sort());
      const paged: string[] = [];
      let before: string | undefined;
      for (let page = 0; page < all.length; page++) {
        const rows = await listBatches(page % 2 ? s.b : s.a, { limit: 2, before });
        paged.push(...rows.map((b) => b.batch));
        if (rows.length < 2) break;
        before = batchCursor(rows.at(-1)!);
      }
      expect(paged).toEqual(all.map((b) => b.batch));
      expect((await listBatches(s.a, { q: "école" })).map((b) => b.batch)).toEqual([tied[0]!]);
      expect((await listBatches(s.b, { q: tied[3]!.toUpperCase() })).map((b) => b.batch)).toEqual([tied[3]!]);
      expect((await listBatches(s.a, { q: "tied_" })).length).toBe(0);
    });

    test("payments: a paid checkout delivered twice at once credits once; refunds, deferred refunds and disputes debit once", async () => {
      const acc = await customer(s.a, 0, "Payer");
      const now = Date.now();
      await s.a.tx((q) => run(q.db.insert(q.t.payments).values({ id: "pay_1", accountId: acc, status: "pending", currency: "usd", amountMinor: 2000, creditMicros: 20 * USD, createdAt: now, updatedAt: now })));
      const paid = sessionEvent("evt_paid_1", acc, "pay_1", 2000, "pi_1");
      const results = await Promise.all([handleStripeEvent(s.a, SETTINGS, paid, now), handleStripeEvent(s.b, SETTINGS, paid, now)]);
      expect(results.map((r) => r.result).sort()).toEqual(["credited", "duplicate"]);
      expect(await balanceOf(s.a, acc)).toBe(20 * USD);
      expect(await getPayment(s.b, "pay_1", acc)).toMatchObject({ status: "paid", stripeSessionId: "cs_pay_1", stripePaymentIntent: "pi_1" });
      expect((await handleStripeEvent(s.b, SETTINGS, paid, now)).result).toBe("duplicate");
      expect((await listAudit(s.a, { limit: 1, targetId: "pay_1" }))[0]!.action).toBe("payment.paid");

      const refund = chargeEvent("evt_refund_1", "pi_1", 500, "re_1");
      expect((await handleStripeEvent(s.a, SETTINGS, refund, now)).result).toBe("refunded");
      expect((await handleStripeEvent(s.b, SETTINGS, refund, now)).result).toBe("duplicate");
      expect(await getPayment(s.a, "pay_1")).toMatchObject({ status: "partially_refunded", refundedMinor: 500, debitedMicros: 5 * USD });
      const lost = disputeEvent("evt_dispute_1", "pi_1", 1500);
      expect((await handleStripeEvent(s.a, SETTINGS, lost, now)).result).toBe("dispute_lost");
      expect((await handleStripeEvent(s.b, SETTINGS, lost, now)).result).toBe("duplicate");
      expect(await balanceOf(s.a, acc)).toBe(0);

      // A refund that arrives before its checkout is kept, then applied with the credit.
      expect((await handleStripeEvent(s.a, SETTINGS, chargeEvent("evt_refund_2", "pi_2", 1000, "re_2"), now)).result).toBe("deferred");
      expect((await handleStripeEvent(s.b, SETTINGS, sessionEvent("evt_paid_2", acc, "pay_2", 1000, "pi_2"), now)).result).toBe("credited");
      expect(await getPayment(s.a, "pay_2")).toMatchObject({ status: "refunded", creditMicros: 10 * USD, debitedMicros: 10 * USD });
      expect(await balanceOf(s.a, acc)).toBe(0);
      const kinds = (await listLedger(s.a, acc, { limit: 10 })).map((l) => `${l.kind}:${l.amountMicros}`);
      expect(kinds).toEqual([`refund:${-10 * USD}`, `payment:${10 * USD}`, `refund:${-15 * USD}`, `refund:${-5 * USD}`, `payment:${20 * USD}`]);

      await s.a.tx((q) => run(q.db.insert(q.t.payments).values({ id: "pay_3", accountId: acc, status: "pending", currency: "usd", amountMinor: 900, creditMicros: 9 * USD, stripeSessionId: "cs_pay_3", createdAt: now + 1, updatedAt: now })));
      const expired = { id: "evt_exp", type: "checkout.session.expired", data: { object: { id: "cs_pay_3", metadata: {} } } } as unknown as Stripe.Event;
      expect((await handleStripeEvent(s.a, SETTINGS, expired, now)).result).toBe("expired");
      expect((await listPayments(s.b, { limit: 10, accountId: acc })).map((p) => [p.id, p.status])).toEqual([["pay_3", "expired"], ["pay_2", "refunded"], ["pay_1", "dispute_lost"]]);
    });

    test("payments: a dispute's created event after its closed (won) one leaves the payment paid", async () => {
      const acc = await customer(s.a, 0, "Disputed");
      const now = Date.now();
      await s.a.tx((q) => run(q.db.insert(q.t.payments).values({ id: "pay_won", accountId: acc, status: "pending", currency: "usd", amountMinor: 1000, creditMicros: 10 * USD, createdAt: now, updatedAt: now })));
      expect((await handleStripeEvent(s.a, SETTINGS, sessionEvent("evt_paid_won", acc, "pay_won", 1000, "pi_won"), now)).result).toBe("credited");
      const event = (id: string, type: string, status: string) =>
        ({ id, object: "event", type, data: { object: { id: "dp_won", object: "dispute", payment_intent: "pi_won", charge: "ch_pi_won", amount: 1000, currency: "usd", status, reason: "fraudulent" } } }) as unknown as Stripe.Event;
      expect((await handleStripeEvent(s.a, SETTINGS, event("evt_dp_closed", "charge.dispute.closed", "won"), now)).result).toBe("dispute_closed");
      expect((await handleStripeEvent(s.b, SETTINGS, event("evt_dp_created", "charge.dispute.created", "needs_response"), now)).result).toBe("ignored");
      expect(await getPayment(s.a, "pay_won")).toMatchObject({ status: "paid", debitedMicros: 0 });
      expect(await balanceOf(s.b, acc)).toBe(10 * USD);
    });

    test("low-balance alerts: threshold, once per crossing when two processes race, re-armed by a credit", async () => {
      const config = loadConfig({ overrides: { low_balance_threshold_usd: "5" } });
      const available = new Map<string, number>();
      const balance = (id: string) => ({ balance: available.get(id) ?? 0, held: 0, available: available.get(id) ?? 0 });
      const [one, two] = [s.a, s.b].map((store) => new AlertService(store, config, balance, new AlertNotifier(store, config)));
      const count = async (id: string) => Number((await s.a.read((q) => rows<{ n: unknown }>(sql`SELECT count(*) AS n FROM alert_events WHERE account_id = ${id}`)))[0]!.n);
      try {
        const acc = await customer(s.a, 3 * USD, "Low");
        available.set(acc, 3 * USD);
        const fired = await Promise.all([one!.check(acc), two!.check(acc), one!.check(acc), two!.check(acc)]);
        expect(fired.filter(Boolean)).toHaveLength(1);
        expect(await count(acc)).toBe(1);
        expect(await two!.check(acc)).toBeNull();
        expect(await one!.view(acc)).toMatchObject({ armed: false, threshold_micros: 5 * USD, source: "default", recent: [{ id: fired.find(Boolean) }] });

        // A top-up back above the threshold re-arms it: the next crossing fires once more.
        await postCredit(s.b, { accountId: acc, amountMicros: 10 * USD, actor: "admin", heldMicros: 0 });
        available.set(acc, 2 * USD);
        const again = await Promise.all([two!.check(acc), one!.check(acc), two!.check(acc)]);
        expect(again.filter(Boolean)).toHaveLength(1);
        const view = await two!.view(acc);
        expect(view.recent.map((e) => e.id)).toEqual([again.find(Boolean)!, fired.find(Boolean)!]);

        const set = await one!.setThreshold(acc, USD, "admin");
        expect(set).toMatchObject({ threshold_micros: USD, source: "account" });
        expect((await listAudit(s.a, { limit: 1, targetId: acc }))[0]).toMatchObject({ action: "alerts.low_balance.update", after: { threshold_micros: USD } });
        expect(await count(acc)).toBe(2);
      } finally {
        await Promise.all([one!.settled(), two!.settled()]);
        one!.notifier.stop();
        two!.notifier.stop();
      }
    });
  });
}

const SETTINGS: BillingSettings = { enabled: true, currency: "usd", exponent: 2, presetsMinor: [], minMinor: 100, maxMinor: 100_000, creditPerUnit: USD };

function sessionEvent(id: string, accountId: string, paymentId: string, amountMinor: number, intent: string): Stripe.Event {
  const session = {
    id: `cs_${paymentId}`, object: "checkout.session", mode: "payment", payment_status: "paid", amount_total: amountMinor, currency: "usd",
    payment_intent: intent, metadata: { tollgate_account_id: accountId, tollgate_payment_id: paymentId },
  };
  return { id, object: "event", type: "checkout.session.completed", data: { object: session } } as unknown as Stripe.Event;
}

function chargeEvent(id: string, intent: string, refundedMinor: number, refundId: string): Stripe.Event {
  const charge = { id: `ch_${intent}`, object: "charge", payment_intent: intent, paid: true, amount_refunded: refundedMinor, refunds: { data: [{ id: refundId }] }, receipt_url: null };
  return { id, object: "event", type: "charge.refunded", data: { object: charge } } as unknown as Stripe.Event;
}

function disputeEvent(id: string, intent: string, amountMinor: number): Stripe.Event {
  const dispute = { id: `dp_${id}`, object: "dispute", payment_intent: intent, charge: `ch_${intent}`, amount: amountMinor, status: "lost", reason: "fraudulent" };
  return { id, object: "event", type: "charge.dispute.closed", data: { object: dispute } } as unknown as Stripe.Event;
}
