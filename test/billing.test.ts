import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../src/config/load";
import { listAudit } from "../src/modules/audit/service";
import { checkLedger, listLedger } from "../src/money/ledger";
import { billingSettings } from "../src/modules/billing/amounts";
import { stripeFromConfig } from "../src/modules/billing/stripe-client";
import { reconcileSession } from "../src/modules/billing/stripe-sync";
import {
  deliver,
  dispute,
  paidSession,
  refundedCharge,
  signStripe,
  startFakeStripe,
  STRIPE_KEY,
  stripeEvent,
  WEBHOOK_SECRET,
  type FakeStripe,
} from "./support/fake-stripe";
import { ADMIN_TOKEN, startGateway, type Gateway } from "./support/gateway";

const USD = 1_000_000;

let stripe: FakeStripe;
let gw: Gateway;

beforeAll(async () => {
  stripe = startFakeStripe();
  gw = await startGateway({ config: stripe.config({ public_url: "https://gw.example.com" }) });
});
afterAll(async () => {
  await gw.stop();
  await stripe.stop();
});

const asCustomer = (key: string, path: string, body?: unknown) =>
  fetch(gw.url + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** Starts a checkout through the API and returns the session the fake Stripe created. */
async function checkout(key: string, amount: number | string) {
  const res = await asCustomer(key, "/v1/billing/checkout", { amount });
  expect(res.status).toBe(201);
  const view = (await res.json()) as { id: string; url: string; credit_micros: number; amount_minor: number };
  const session = [...stripe.sessions.values()].find((s) => (s.metadata as Record<string, string>).tollgate_payment_id === view.id)!;
  expect(session).toBeDefined();
  return { view, session };
}

describe("configuration", () => {
  test("a Stripe key without the webhook secret (or the reverse) is a config error naming the missing field", () => {
    expect(() => loadConfig({ env: { STRIPE_SECRET_KEY: STRIPE_KEY } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { STRIPE_SECRET_KEY: STRIPE_KEY } })).toThrow(/stripe_webhook_secret \(env STRIPE_WEBHOOK_SECRET\)/);
    expect(() => loadConfig({ env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET } })).toThrow(/stripe_secret_key/);
    expect(() => loadConfig({ env: { STRIPE_SECRET_KEY: "pk_test_publishable", STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET } })).toThrow(/stripe_secret_key/);
  });

  test("amounts come from env as exact decimals; defaults are 10/25/100 between 5 and 1000, credit 1:1", () => {
    const c = loadConfig({ env: { TOLLGATE_TOPUP_PRESETS: "20, 50.5", TOLLGATE_PAYMENT_CURRENCY: "EUR", TOLLGATE_CREDIT_PER_UNIT: "0.8" } });
    expect(c.topup_presets).toEqual([20 * USD, 50_500_000]);
    expect(c.payment_currency).toBe("eur");
    expect(c.credit_per_unit).toBe(800_000);
    const d = loadConfig({});
    expect(d.topup_presets).toEqual([10 * USD, 25 * USD, 100 * USD]);
    expect([d.topup_min, d.topup_max, d.credit_per_unit]).toEqual([5 * USD, 1000 * USD, USD]);
    expect(() => loadConfig({ env: { TOLLGATE_TOPUP_MIN: "50", TOLLGATE_TOPUP_MAX: "10" } })).toThrow(/topup_min/);
  });

  test("without Stripe nothing payment-related is offered: info says disabled, checkout and webhook are 404", async () => {
    const plain = await startGateway();
    try {
      const c = await plain.customer();
      const info = await (await fetch(plain.url + "/v1/billing", { headers: { authorization: `Bearer ${c.key}` } })).json();
      expect(info).toMatchObject({ object: "billing", enabled: false, presets: [] });
      const res = await fetch(plain.url + "/v1/billing/checkout", {
        method: "POST",
        headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
        body: JSON.stringify({ amount: 10 }),
      });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("payments_disabled");
      const payload = stripeEvent("checkout.session.completed", { id: "cs_x" });
      const hook = await deliver(plain.url, payload);
      expect(hook.status).toBe(404);
      expect(res.headers.get("content-type")).toContain("application/json");
    } finally {
      await plain.stop();
    }
  });
});

describe("checkout", () => {
  test("creates a Stripe Checkout Session with the amount, currency, account metadata and portal return URLs", async () => {
    const c = await gw.customer(0);
    const before = stripe.requests.length;
    const res = await asCustomer(c.key, "/v1/billing/checkout", { amount: 25 });
    expect(res.status).toBe(201);
    const view = (await res.json()) as Record<string, unknown>;
    expect(view).toMatchObject({
      object: "payment",
      account_id: c.accountId,
      status: "pending",
      currency: "usd",
      amount: "25.00",
      amount_minor: 2500,
      credit_micros: 25 * USD,
      paid_at: null,
    });
    expect(String(view.id)).toStartWith("pay_");
    expect(String(view.url)).toStartWith(stripe.url + "/checkout/cs_test_");

    const sent = stripe.requests.slice(before);
    expect(sent).toHaveLength(1);
    const req = sent[0]!;
    expect(req.method).toBe("POST");
    expect(req.path).toBe("/v1/checkout/sessions");
    expect(req.headers.authorization).toBe(`Bearer ${STRIPE_KEY}`);
    // The payment id makes a retried create idempotent at Stripe.
    expect(req.headers["idempotency-key"]).toBe(String(view.id));
    expect(req.params).toMatchObject({
      mode: "payment",
      "line_items[0][quantity]": "1",
      "line_items[0][price_data][currency]": "usd",
      "line_items[0][price_data][unit_amount]": "2500",
      "line_items[0][price_data][product_data][name]": "API credits (25 USD)",
      client_reference_id: c.accountId,
      "metadata[tollgate_account_id]": c.accountId,
      "metadata[tollgate_payment_id]": String(view.id),
      "payment_intent_data[metadata][tollgate_account_id]": c.accountId,
      "payment_intent_data[metadata][tollgate_payment_id]": String(view.id),
      success_url: "https://gw.example.com/portal/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}",
      cancel_url: "https://gw.example.com/portal/billing?checkout=cancelled",
    });

    // Recorded as pending for the account (and only for it).
    const list = (await (await asCustomer(c.key, "/v1/billing/payments")).json()) as { data: { id: string; status: string }[] };
    expect(list.data.map((p) => [p.id, p.status])).toEqual([[String(view.id), "pending"]]);
    const other = await gw.customer(0);
    expect((await asCustomer(other.key, `/v1/billing/payments/${view.id}`)).status).toBe(404);
    expect((await asCustomer(c.key, `/v1/billing/payments/${view.id}`)).status).toBe(200);
  });

  test("custom amounts must fit the currency's decimals and the configured bounds", async () => {
    const c = await gw.customer(0);
    const { view } = await checkout(c.key, "12.50");
    expect(view.amount_minor).toBe(1250);
    for (const [amount, code] of [[4.99, "amount_out_of_range"], [1000.01, "amount_out_of_range"], ["10.001", "invalid_amount"]] as const) {
      const res = await asCustomer(c.key, "/v1/billing/checkout", { amount });
      expect(res.status).toBe(400);
      const err = ((await res.json()) as { error: { param: string; code: string } }).error;
      expect(err).toMatchObject({ param: "amount", code });
    }
    expect((await asCustomer(c.key, "/v1/billing/checkout", { amount: "ten" })).status).toBe(400);
    expect((await asCustomer(c.key, "/v1/billing/checkout", {})).status).toBe(400);
  });

  test("API users may choose their own return URLs; without a key it is 401", async () => {
    const c = await gw.customer(0);
    const before = stripe.requests.length;
    const res = await asCustomer(c.key, "/v1/billing/checkout", { amount: 10, success_url: "https://app.example/ok", cancel_url: "https://app.example/no" });
    expect(res.status).toBe(201);
    expect(stripe.requests[before]!.params).toMatchObject({ success_url: "https://app.example/ok", cancel_url: "https://app.example/no" });
    const anon = await fetch(gw.url + "/v1/billing/checkout", { method: "POST", headers: { "content-type": "application/json" }, body: '{"amount":10}' });
    expect(anon.status).toBe(401);
  });

  test("a Stripe failure is a 502 for the customer and the payment is marked failed", async () => {
    const c = await gw.customer(0);
    stripe.failNext(1, 400);
    const res = await asCustomer(c.key, "/v1/billing/checkout", { amount: 10 });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { type: string; code: string; message: string } };
    expect(body.error).toMatchObject({ type: "server_error", code: "payment_provider_error" });
    expect(body.error.message).not.toContain("Injected");
    const list = (await (await asCustomer(c.key, "/v1/billing/payments")).json()) as { data: { status: string }[] };
    expect(list.data.map((p) => p.status)).toEqual(["failed"]);
  });

  test("billing info lists the presets with the credit each buys (markup applied, floored)", async () => {
    const s2 = await startGateway({ config: stripe.config({ credit_per_unit: "0.8", topup_presets: ["10", "25"], payment_currency: "eur" }) });
    try {
      const c = await s2.customer(0);
      const info = await (await fetch(s2.url + "/v1/billing", { headers: { authorization: `Bearer ${c.key}` } })).json();
      expect(info).toEqual({
        object: "billing",
        enabled: true,
        currency: "eur",
        presets: [
          { amount: "10.00", amount_minor: 1000, credit_micros: 8 * USD, credit_usd: "8" },
          { amount: "25.00", amount_minor: 2500, credit_micros: 20 * USD, credit_usd: "20" },
        ],
        min_amount: "5.00",
        max_amount: "1000.00",
        credit_per_unit: "0.8",
      });
    } finally {
      await s2.stop();
    }
  });
});

describe("webhook", () => {
  test("a paid checkout delivered three times (twice at once) credits the account exactly once", async () => {
    const c = await gw.customer(0);
    const { view, session } = await checkout(c.key, 25);
    const payload = stripeEvent("checkout.session.completed", paidSession(session, "pi_test_thrice"));
    const sig = await signStripe(payload);

    const [a, b] = await Promise.all([deliver(gw.url, payload, sig), deliver(gw.url, payload, sig)]);
    const third = await deliver(gw.url, payload);
    const results = await Promise.all([a, b, third].map(async (r) => [r.status, ((await r.json()) as { result: string }).result]));
    expect(results.map((r) => r[0])).toEqual([200, 200, 200]);
    expect(results.map((r) => r[1]).sort()).toEqual(["credited", "duplicate", "duplicate"]);

    expect(await gw.balance(c.accountId)).toBe(25 * USD);
    const ledger = (await listLedger(gw.runtime.deps.store, c.accountId, { limit: 10 }));
    expect(ledger.map((l) => [l.kind, l.amountMicros, l.ref])).toEqual([["payment", 25 * USD, session.id as string]]);
    const payment = (await (await asCustomer(c.key, `/v1/billing/payments/${view.id}`)).json()) as Record<string, unknown>;
    expect(payment).toMatchObject({ status: "paid", stripe_session_id: session.id, stripe_payment_intent: "pi_test_thrice" });
    expect(payment.paid_at).toBeNumber();
    // The money event is in the audit log with the Stripe ids.
    const audit = (await listAudit(gw.runtime.deps.store, { limit: 10, targetId: view.id }));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: "stripe", action: "payment.paid" });
    expect(audit[0]!.after).toMatchObject({
      stripe_session_id: session.id,
      stripe_payment_intent: "pi_test_thrice",
      stripe_event_id: JSON.parse(payload).id,
      credit_micros: 25 * USD,
    });
    expect(await checkLedger(gw.runtime.deps.store)).toEqual([]);
  });

  test("the receipt link is fetched from Stripe after the credit", async () => {
    const c = await gw.customer(0);
    const { view, session } = await checkout(c.key, 10);
    await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(session, "pi_test_receipt")));
    let receipt: string | null = null;
    for (let i = 0; i < 200 && !receipt; i++) {
      await Bun.sleep(10);
      receipt = ((await (await asCustomer(c.key, `/v1/billing/payments/${view.id}`)).json()) as { receipt_url: string | null }).receipt_url;
    }
    expect(receipt).toBe("https://pay.stripe.test/receipts/ch_for_pi_test_receipt");
    expect(stripe.requests.some((r) => r.method === "GET" && r.path === "/v1/payment_intents/pi_test_receipt" && r.params["expand[0]"] === "latest_charge")).toBe(true);
  });

  test("a session the customer returns from is confirmed with Stripe at once; the webhook is then a duplicate", async () => {
    const c = await gw.customer(0);
    const { view, session } = await checkout(c.key, 10);
    const settings = billingSettings(gw.config);
    // The app makes its own client the same way (with the app, not at start).
    const client = stripeFromConfig(gw.config)!;
    const db = gw.runtime.deps.store;
    // Not paid yet at Stripe: nothing happens.
    expect((await reconcileSession(db, client, settings, session.id as string, c.accountId)).result).toBe("awaiting_payment");
    stripe.sessions.set(session.id as string, paidSession(session, "pi_test_returned"));
    const other = await gw.customer(0);
    expect((await reconcileSession(db, client, settings, session.id as string, other.accountId)).result).toBe("ignored");
    expect((await reconcileSession(db, client, settings, session.id as string, c.accountId)).result).toBe("credited");
    expect(await gw.balance(c.accountId)).toBe(10 * USD);
    const hook = await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(session, "pi_test_returned")));
    expect(((await hook.json()) as { result: string }).result).toBe("duplicate");
    expect(await gw.balance(c.accountId)).toBe(10 * USD);
    expect((await listAudit(db, { limit: 5, targetId: view.id }))[0]!.after).toMatchObject({ stripe_event_id: `retrieved:${session.id}` });
  });

  test("forged, tampered, unsigned and replayed (old) deliveries are 400 and change nothing", async () => {
    const c = await gw.customer(0);
    const { view, session } = await checkout(c.key, 25);
    const payload = stripeEvent("checkout.session.completed", paidSession(session));
    const good = await signStripe(payload);
    const tampered = payload.replace('"amount_total":2500', '"amount_total":250000');
    expect(tampered).not.toBe(payload);
    const cases: [string, Response][] = [
      ["tampered body", await deliver(gw.url, tampered, good)],
      ["wrong secret", await deliver(gw.url, payload, await signStripe(payload, { secret: "whsec_not_the_right_one" }))],
      ["replayed after 10 minutes", await deliver(gw.url, payload, await signStripe(payload, { timestamp: Math.floor(Date.now() / 1000) - 600 }))],
      ["garbage header", await deliver(gw.url, payload, "t=1,v1=deadbeef")],
      ["no header", await fetch(gw.url + "/webhooks/stripe", { method: "POST", headers: { "content-type": "application/json" }, body: payload })],
    ];
    for (const [name, res] of cases) {
      expect([name, res.status]).toEqual([name, 400]);
      expect(res.headers.get("content-type")).toContain("application/json");
      const err = ((await res.json()) as { error: { type: string; code: string; param: string } }).error;
      expect([name, err.code, err.param]).toEqual([name, "invalid_signature", "stripe-signature"]);
    }
    expect(await gw.balance(c.accountId)).toBe(0);
    const p = (await (await asCustomer(c.key, `/v1/billing/payments/${view.id}`)).json()) as { status: string };
    expect(p.status).toBe("pending");
  });

  test("unknown events and other integrations' sessions are acknowledged and ignored", async () => {
    const ignored = await deliver(gw.url, stripeEvent("customer.created", { id: "cus_1", object: "customer" }));
    expect(ignored.status).toBe(200);
    expect(await ignored.json()).toEqual({ received: true, result: "ignored" });
    const foreign = await deliver(
      gw.url,
      stripeEvent("checkout.session.completed", { id: "cs_other", object: "checkout.session", mode: "payment", payment_status: "paid", amount_total: 999, currency: "usd", metadata: {} }),
    );
    expect(await foreign.json()).toEqual({ received: true, result: "ignored" });
  });

  test("an unpaid completion waits for async_payment_succeeded; an expired session is marked expired", async () => {
    const c = await gw.customer(0);
    const { view, session } = await checkout(c.key, 10);
    const unpaid = await deliver(gw.url, stripeEvent("checkout.session.completed", { ...session, status: "complete", payment_status: "unpaid" }));
    expect(((await unpaid.json()) as { result: string }).result).toBe("awaiting_payment");
    expect(await gw.balance(c.accountId)).toBe(0);
    await deliver(gw.url, stripeEvent("checkout.session.async_payment_succeeded", paidSession(session)));
    expect(await gw.balance(c.accountId)).toBe(10 * USD);

    const other = await checkout(c.key, 10);
    const exp = await deliver(gw.url, stripeEvent("checkout.session.expired", { ...other.session, status: "expired" }));
    expect(((await exp.json()) as { result: string }).result).toBe("expired");
    const list = (await (await asCustomer(c.key, "/v1/billing/payments")).json()) as { data: { id: string; status: string }[] };
    expect(Object.fromEntries(list.data.map((p) => [p.id, p.status]))).toEqual({ [view.id]: "paid", [other.view.id]: "expired" });
  });

  test("refunds debit the refunded share once, even after the credit was spent (balance may go negative)", async () => {
    const c = await gw.customer(0);
    const { view, session } = await checkout(c.key, 25);
    await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(session, "pi_test_refund")));
    expect(await gw.balance(c.accountId)).toBe(25 * USD);

    // Partial refund of 10.00: repeated delivery changes nothing more.
    const partial = stripeEvent("charge.refunded", refundedCharge("pi_test_refund", 2500, 1000));
    expect(((await (await deliver(gw.url, partial)).json()) as { result: string }).result).toBe("refunded");
    expect(((await (await deliver(gw.url, partial)).json()) as { result: string }).result).toBe("duplicate");
    expect(await gw.balance(c.accountId)).toBe(15 * USD);

    // The customer spends 14 of the remaining 15, then the rest is refunded: the full 15 is debited.
    const credits = gw.runtime.deps.credits;
    credits.reserve({ accountId: c.accountId, requestId: "req_spend_before_refund", amount: 14 * USD });
    await credits.settle("req_spend_before_refund", 14 * USD);
    const full = stripeEvent("charge.refunded", refundedCharge("pi_test_refund", 2500, 2500));
    const [r1, r2] = await Promise.all([deliver(gw.url, full), deliver(gw.url, full)]);
    expect([((await r1.json()) as { result: string }).result, ((await r2.json()) as { result: string }).result].sort()).toEqual(["duplicate", "refunded"]);
    expect(await gw.balance(c.accountId)).toBe(-14 * USD);

    const refunds = (await listLedger(gw.runtime.deps.store, c.accountId, { limit: 10 })).filter((l) => l.kind === "refund");
    expect(refunds.map((l) => l.amountMicros)).toEqual([-15 * USD, -10 * USD]);
    expect(refunds.map((l) => l.ref)).toEqual(["ch_for_pi_test_refund:refunded:2500", "ch_for_pi_test_refund:refunded:1000"]);
    const p = (await (await asCustomer(c.key, `/v1/billing/payments/${view.id}`)).json()) as Record<string, unknown>;
    expect(p).toMatchObject({ status: "refunded", refunded_minor: 2500, debited_micros: 25 * USD });
    const audit = (await listAudit(gw.runtime.deps.store, { limit: 10, targetId: view.id })).filter((a) => a.action === "payment.refunded");
    expect(audit).toHaveLength(2);
    expect(audit[0]!.after).toMatchObject({ stripe_charge_id: "ch_for_pi_test_refund", stripe_payment_intent: "pi_test_refund", refunded_minor: 2500 });
    // Spending is refused while the balance is negative.
    expect(() => credits.reserve({ accountId: c.accountId, requestId: "req_after_refund", amount: 1 })).toThrow();
    expect(await checkLedger(gw.runtime.deps.store)).toEqual([]);
  });

  test("a lost dispute debits the disputed amount once; a won dispute restores the status", async () => {
    const c = await gw.customer(0);
    const won = await checkout(c.key, 10);
    await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(won.session, "pi_test_dispute_won")));
    const lost = await checkout(c.key, 20);
    await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(lost.session, "pi_test_dispute_lost")));
    expect(await gw.balance(c.accountId)).toBe(30 * USD);

    await deliver(gw.url, stripeEvent("charge.dispute.created", dispute("pi_test_dispute_won", 1000, "needs_response")));
    await deliver(gw.url, stripeEvent("charge.dispute.created", dispute("pi_test_dispute_lost", 2000, "needs_response")));
    const status = async (id: string) => ((await (await asCustomer(c.key, `/v1/billing/payments/${id}`)).json()) as { status: string }).status;
    expect(await status(won.view.id)).toBe("disputed");
    await deliver(gw.url, stripeEvent("charge.dispute.closed", dispute("pi_test_dispute_won", 1000, "won")));
    expect(await status(won.view.id)).toBe("paid");

    const closed = stripeEvent("charge.dispute.closed", dispute("pi_test_dispute_lost", 2000, "lost"));
    expect(((await (await deliver(gw.url, closed)).json()) as { result: string }).result).toBe("dispute_lost");
    expect(((await (await deliver(gw.url, closed)).json()) as { result: string }).result).toBe("duplicate");
    expect(await status(lost.view.id)).toBe("dispute_lost");
    expect(await gw.balance(c.accountId)).toBe(10 * USD);
    const entry = (await listLedger(gw.runtime.deps.store, c.accountId, { limit: 1 }))[0]!;
    expect([entry.kind, entry.amountMicros, entry.ref]).toEqual(["refund", -20 * USD, "dp_for_pi_test_dispute_lost"]);
    const audit = (await listAudit(gw.runtime.deps.store, { limit: 10, targetId: lost.view.id })).map((a) => a.action);
    expect(audit).toEqual(["payment.dispute_lost", "payment.disputed", "payment.paid"]);
  });

  // One gateway process per SQLite database (a second refuses to start: test/hardening-one-server.test.ts);
  // instances sharing a PostgreSQL database: test/pg-payments.test.ts.
  test("the same event delivered six times at once credits once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-billing-"));
    const a = await startGateway({ dbPath: join(dir, "gw.db"), config: stripe.config() });
    try {
      const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
      const acc = (await (await fetch(a.url + "/admin/accounts", { method: "POST", headers, body: '{"name":"six deliveries"}' })).json()) as { id: string };
      const key = (await (await fetch(`${a.url}/admin/accounts/${acc.id}/keys`, { method: "POST", headers, body: "{}" })).json()) as { key: string };
      const res = await fetch(a.url + "/v1/billing/checkout", {
        method: "POST",
        headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" },
        body: '{"amount":100}',
      });
      expect(res.status).toBe(201);
      const view = (await res.json()) as { id: string };
      const session = [...stripe.sessions.values()].find((s) => (s.metadata as Record<string, string>).tollgate_payment_id === view.id)!;
      const payload = stripeEvent("checkout.session.completed", paidSession(session));
      const sig = await signStripe(payload);
      const results = await Promise.all(Array.from({ length: 6 }, () => deliver(a.url, payload, sig).then((r) => r.json() as Promise<{ result: string }>)));
      expect(results.map((r) => r.result).sort()).toEqual(["credited", "duplicate", "duplicate", "duplicate", "duplicate", "duplicate"]);
      const account = (await (await fetch(`${a.url}/admin/accounts/${acc.id}`, { headers })).json()) as { balance_micros: number };
      expect(account.balance_micros).toBe(100 * USD);
      expect((await listLedger(a.runtime.deps.store, acc.id, { limit: 10 })).filter((l) => l.kind === "payment")).toHaveLength(1);
      expect(await checkLedger(a.runtime.deps.store)).toEqual([]);
    } finally {
      await a.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("operator views and the API spec", () => {
  test("admins list payments of all accounts or one; customers never see others'", async () => {
    const c = await gw.customer(0);
    const { view } = await checkout(c.key, 10);
    const all = (await (await gw.admin(`/admin/payments?account_id=${c.accountId}`)).json()) as { data: { id: string }[] };
    expect(all.data.map((p) => p.id)).toEqual([view.id]);
    const one = (await (await gw.admin(`/admin/accounts/${c.accountId}/payments?status=pending`)).json()) as { data: { id: string }[] };
    expect(one.data.map((p) => p.id)).toEqual([view.id]);
    expect((await gw.admin("/admin/accounts/acc_missing/payments")).status).toBe(404);
    expect((await asCustomer(c.key, "/admin/payments")).status).toBe(401);
  });

  test("every payment route is in the OpenAPI spec with a summary", async () => {
    const spec = (await (await fetch(gw.url + "/openapi.json")).json()) as { paths: Record<string, Record<string, { summary?: string }>> };
    for (const [path, method] of [
      ["/v1/billing", "get"],
      ["/v1/billing/checkout", "post"],
      ["/v1/billing/payments", "get"],
      ["/v1/billing/payments/{id}", "get"],
      ["/admin/payments", "get"],
      ["/admin/accounts/{id}/payments", "get"],
      ["/webhooks/stripe", "post"],
    ] as const) {
      expect([path, method, typeof spec.paths[path]?.[method]?.summary]).toEqual([path, method, "string"]);
    }
  });
});
