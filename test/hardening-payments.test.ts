import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load";
import { checkLedger } from "../src/money/ledger";
import { ensureBinary } from "./support/binary";
import { deliver, dispute, paidSession, refundedCharge, startFakeStripe, stripeEvent, type FakeStripe } from "./support/fake-stripe";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(120_000);

/**
 * Payments: a refund Stripe reports before the checkout's completion is applied once the payment
 * lands; and no balance can grow past 1e15 micros (10^9 USD), far below 2^53, wherever credits
 * are added: the admin API, credit codes, Stripe and the CLI.
 */
const USD = 1_000_000;
const LIMIT = 1e15;

let stripe: FakeStripe;
let gw: Gateway;
beforeAll(async () => {
  stripe = startFakeStripe();
  gw = await startGateway({ config: stripe.config({ topup_max: "1000" }) });
});
afterAll(async () => {
  await gw?.stop();
  await stripe?.stop();
});

type Envelope = { error: { message: string; type: string; param: string | null; code: string | null } };
const account = async (id: string) => (await (await gw.admin(`/admin/accounts/${id}`)).json()) as { balance_micros: number };

async function checkout(key: string, amount: string): Promise<Response> {
  return fetch(`${gw.url}/v1/billing/checkout`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ amount }),
  });
}

async function openCheckout(key: string, amount: string) {
  const res = await checkout(key, amount);
  expect(res.status).toBe(201);
  const view = (await res.json()) as { id: string; stripe_session_id: string };
  return { paymentId: view.id, session: stripe.sessions.get(view.stripe_session_id)! };
}

describe("a refund that arrives before the checkout completed", () => {
  test("is recorded and applied when the payment lands: the credit is taken back once", async () => {
    const c = await gw.customer(0);
    const { paymentId, session } = await openCheckout(c.key, "25");
    const intent = `pi_early_${crypto.randomUUID().slice(0, 8)}`;
    const refund = stripeEvent("charge.refunded", refundedCharge(intent, 2500, 2500));
    const early = await deliver(gw.url, refund);
    expect(early.status).toBe(200);
    expect(((await early.json()) as { result: string }).result).toBe("deferred");
    // The same refund delivered twice is still one refund.
    expect((await deliver(gw.url, refund)).status).toBe(200);
    expect((await account(c.accountId)).balance_micros).toBe(0);

    const paid = await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(session, intent)));
    expect(((await paid.json()) as { result: string }).result).toBe("credited");
    expect((await account(c.accountId)).balance_micros).toBe(0);
    const payment = (await (await gw.admin(`/admin/accounts/${c.accountId}/payments`)).json()) as { data: { id: string; status: string; debited_micros: number }[] };
    expect(payment.data[0]).toMatchObject({ id: paymentId, status: "refunded", debited_micros: 25 * USD });
    const kinds = gw.runtime.deps.store.sqlite
      .query<{ kind: string; amount_micros: number }, [string]>("SELECT kind, amount_micros FROM ledger_entries WHERE account_id = ? ORDER BY id")
      .all(c.accountId);
    expect(kinds).toEqual([{ kind: "payment", amount_micros: 25 * USD }, { kind: "refund", amount_micros: -25 * USD }]);
    // Later deliveries of the same refund change nothing.
    await deliver(gw.url, refund);
    await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(session, intent)));
    expect((await account(c.accountId)).balance_micros).toBe(0);
    expect(await checkLedger(gw.runtime.deps.store)).toEqual([]);
  });

  test("a partial early refund, then a larger one after the payment: each cent is taken back once", async () => {
    const c = await gw.customer(0);
    const { session } = await openCheckout(c.key, "40");
    const intent = `pi_part_${crypto.randomUUID().slice(0, 8)}`;
    await deliver(gw.url, stripeEvent("charge.refunded", refundedCharge(intent, 4000, 1000)));
    await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(session, intent)));
    expect((await account(c.accountId)).balance_micros).toBe(30 * USD);
    await deliver(gw.url, stripeEvent("charge.refunded", refundedCharge(intent, 4000, 2500)));
    expect((await account(c.accountId)).balance_micros).toBe(15 * USD);
  });
});

describe("dispute events out of order", () => {
  const result = async (r: Response) => ((await r.json()) as { result: string }).result;
  const status = async (accountId: string) =>
    ((await (await gw.admin(`/admin/accounts/${accountId}/payments`)).json()) as { data: { status: string }[] }).data[0]!.status;

  test("a dispute's created event delivered after its closed (won) one leaves the payment paid", async () => {
    const c = await gw.customer(0);
    const intent = `pi_dp_late_${crypto.randomUUID().slice(0, 8)}`;
    const { session } = await openCheckout(c.key, "10");
    await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(session, intent)));
    expect(await result(await deliver(gw.url, stripeEvent("charge.dispute.closed", dispute(intent, 1000, "won"))))).toBe("dispute_closed");
    expect(await result(await deliver(gw.url, stripeEvent("charge.dispute.created", dispute(intent, 1000, "needs_response"))))).toBe("ignored");
    expect(await status(c.accountId)).toBe("paid");
    expect((await account(c.accountId)).balance_micros).toBe(10 * USD);
    // Another dispute of the same payment still counts.
    await deliver(gw.url, stripeEvent("charge.dispute.created", { ...dispute(intent, 1000, "needs_response"), id: `dp_second_${intent}` }));
    expect(await status(c.accountId)).toBe("disputed");
  });

  test("both kept until the payment lands, closed first: applied in that order, the payment stays paid", async () => {
    const c = await gw.customer(0);
    const intent = `pi_dp_early_${crypto.randomUUID().slice(0, 8)}`;
    const { session } = await openCheckout(c.key, "10");
    expect(await result(await deliver(gw.url, stripeEvent("charge.dispute.closed", dispute(intent, 1000, "won"))))).toBe("deferred");
    expect(await result(await deliver(gw.url, stripeEvent("charge.dispute.created", dispute(intent, 1000, "needs_response"))))).toBe("deferred");
    await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(session, intent)));
    expect(await status(c.accountId)).toBe("paid");
    expect((await account(c.accountId)).balance_micros).toBe(10 * USD);
  });
});

describe("a session paid in another currency", () => {
  test("is credited in the gateway's currency, never its amount times credit_per_unit", async () => {
    const c = await gw.customer(0);
    // Adaptive Pricing: the customer paid 925 eur for the 10 usd checkout (the usd amount in currency_conversion).
    const { session } = await openCheckout(c.key, "10");
    const converted = { ...paidSession(session), currency: "eur", amount_total: 925, currency_conversion: { source_currency: "usd", amount_total: 1000 } };
    expect(((await (await deliver(gw.url, stripeEvent("checkout.session.completed", converted))).json()) as { result: string }).result).toBe("credited");
    expect((await account(c.accountId)).balance_micros).toBe(10 * USD);
    // No conversion given: the checkout's own amount, not 1,500 "dollars" of yen.
    const d = await gw.customer(0);
    const other = await openCheckout(d.key, "10");
    await deliver(gw.url, stripeEvent("checkout.session.completed", { ...paidSession(other.session), currency: "jpy", amount_total: 1500 }));
    expect((await account(d.accountId)).balance_micros).toBe(10 * USD);
    const payments = (await (await gw.admin(`/admin/accounts/${d.accountId}/payments`)).json()) as { data: { currency: string; credit_micros: number }[] };
    expect(payments.data[0]).toMatchObject({ currency: "usd", credit_micros: 10 * USD });
    expect(await checkLedger(gw.runtime.deps.store)).toEqual([]);
  });
});

describe("refunds and disputes of a charge in another currency (Adaptive Pricing)", () => {
  const result = async (r: Response) => ((await r.json()) as { result: string }).result;
  /** A 10 usd checkout the customer paid as `amount` in `currency`. */
  async function paidIn(currency: string, amount: number) {
    const c = await gw.customer(0);
    const intent = `pi_${currency}_${crypto.randomUUID().slice(0, 8)}`;
    const { paymentId, session } = await openCheckout(c.key, "10");
    const converted = { ...paidSession(session, intent), currency, amount_total: amount, currency_conversion: { source_currency: "usd", amount_total: 1000 } };
    expect(await result(await deliver(gw.url, stripeEvent("checkout.session.completed", converted)))).toBe("credited");
    expect((await account(c.accountId)).balance_micros).toBe(10 * USD);
    return { c, intent, paymentId };
  }
  const payment = async (accountId: string) =>
    ((await (await gw.admin(`/admin/accounts/${accountId}/payments`)).json()) as { data: { id: string; status: string; debited_micros: number }[] }).data[0];

  test("a full refund in eur takes back the whole credit", async () => {
    const { c, intent, paymentId } = await paidIn("eur", 925);
    expect(await result(await deliver(gw.url, stripeEvent("charge.refunded", refundedCharge(intent, 925, 925, "eur"))))).toBe("refunded");
    expect(await payment(c.accountId)).toMatchObject({ id: paymentId, status: "refunded", debited_micros: 10 * USD });
    expect((await account(c.accountId)).balance_micros).toBe(0);
  });

  test("refunds in jpy take back their share, each yen once", async () => {
    const { c, intent } = await paidIn("jpy", 1500);
    await deliver(gw.url, stripeEvent("charge.refunded", refundedCharge(intent, 1500, 750, "jpy")));
    expect((await account(c.accountId)).balance_micros).toBe(5 * USD);
    expect(await payment(c.accountId)).toMatchObject({ status: "partially_refunded" });
    await deliver(gw.url, stripeEvent("charge.refunded", refundedCharge(intent, 1500, 1500, "jpy")));
    expect((await account(c.accountId)).balance_micros).toBe(0);
    expect(await payment(c.accountId)).toMatchObject({ status: "refunded", debited_micros: 10 * USD });
  });

  test("a partial refund takes back the same share of the credit, not one rounded to a cent first", async () => {
    const { c, intent } = await paidIn("eur", 923);
    await deliver(gw.url, stripeEvent("charge.refunded", refundedCharge(intent, 923, 461, "eur")));
    expect((await account(c.accountId)).balance_micros).toBe(10 * USD - Math.floor((10 * USD * 461) / 923));
    await deliver(gw.url, stripeEvent("charge.refunded", refundedCharge(intent, 923, 923, "eur")));
    expect((await account(c.accountId)).balance_micros).toBe(0);
  });

  test("a lost dispute of the whole eur charge takes back the whole credit, of half of it half", async () => {
    const whole = await paidIn("eur", 925);
    expect(await result(await deliver(gw.url, stripeEvent("charge.dispute.closed", { ...dispute(whole.intent, 925, "lost"), currency: "eur" })))).toBe("dispute_lost");
    expect((await account(whole.c.accountId)).balance_micros).toBe(0);
    const half = await paidIn("eur", 924);
    await deliver(gw.url, stripeEvent("charge.dispute.closed", { ...dispute(half.intent, 462, "lost"), currency: "eur" }));
    expect((await account(half.c.accountId)).balance_micros).toBe(5 * USD);
    expect(await checkLedger(gw.runtime.deps.store)).toEqual([]);
  });
});

describe("balances are bounded well below 2^53 micros", () => {
  test("admin top-ups: the one that would pass 1e15 is a 400 in the OpenAI envelope, and nothing commits", async () => {
    const c = await gw.customer(0);
    const first = await gw.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: LIMIT } });
    expect(first.status).toBe(201);
    for (let i = 0; i < 9; i++) {
      const res = await gw.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: LIMIT } });
      expect(res.status).toBe(400);
      const body = (await res.json()) as Envelope;
      expect(body.error).toMatchObject({ type: "invalid_request_error", param: "amount_micros", code: "balance_limit_exceeded" });
      expect(body.error.message).toContain("1000000000 USD");
    }
    expect((await gw.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: 1 } })).status).toBe(400);
    const view = await gw.admin(`/admin/accounts/${c.accountId}`);
    expect(view.status).toBe(200);
    expect(((await view.json()) as { balance_micros: number }).balance_micros).toBe(LIMIT);
    expect((await gw.admin(`/admin/accounts/${c.accountId}/ledger`)).status).toBe(200);
    expect(gw.runtime.deps.store.sqlite.query("SELECT count(*) AS n FROM ledger_entries WHERE account_id = ?").get(c.accountId)).toEqual({ n: 1 });
  });

  test("a credit code that would pass the bound is refused and stays redeemable", async () => {
    const c = await gw.customer(0);
    await gw.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: LIMIT - 5 * USD } });
    const batch = (await (await gw.admin("/admin/codes", { body: { count: 1, amount_micros: 10 * USD } })).json()) as { codes: { code: string }[] };
    const code = batch.codes[0]!.code;
    const redeem = () =>
      fetch(`${gw.url}/v1/credits/redeem`, {
        method: "POST",
        headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
        body: JSON.stringify({ code }),
      });
    const refused = await redeem();
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as Envelope).error.code).toBe("balance_limit_exceeded");
    expect((await account(c.accountId)).balance_micros).toBe(LIMIT - 5 * USD);
    const other = await gw.customer(0);
    const ok = await fetch(`${gw.url}/v1/credits/redeem`, {
      method: "POST",
      headers: { authorization: `Bearer ${other.key}`, "content-type": "application/json" },
      body: JSON.stringify({ code }),
    });
    expect(ok.status).toBe(200);
  });

  test("Stripe: a checkout that would pass the bound is refused before Stripe is called; a payment that would is not credited", async () => {
    const c = await gw.customer(0);
    await gw.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: LIMIT - 10 * USD } });
    const before = stripe.requests.length;
    const refused = await checkout(c.key, "25");
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as Envelope).error).toMatchObject({ param: "amount", code: "balance_limit_exceeded" });
    expect(stripe.requests.length).toBe(before);

    // A checkout opened while there was room, paid once there is none: refused, not credited.
    const d = await gw.customer(0);
    const { session } = await openCheckout(d.key, "25");
    await gw.admin(`/admin/accounts/${d.accountId}/credits`, { body: { amount_micros: LIMIT - 10 * USD } });
    const paid = await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(session)));
    expect(paid.status).toBe(400);
    expect(((await paid.json()) as Envelope).error.code).toBe("balance_limit_exceeded");
    expect((await account(d.accountId)).balance_micros).toBe(LIMIT - 10 * USD);
  });

  test("the CLI's credits add refuses it too (compiled binary)", async () => {
    const bin = await ensureBinary();
    const dir = mkdtempSync(join(tmpdir(), "tollgate-bound-"));
    try {
      const run = async (...args: string[]) => {
        const p = Bun.spawn([bin, ...args, "--db", join(dir, "t.db")], { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir }, stdout: "pipe", stderr: "pipe" });
        const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
        return { out, err, code };
      };
      const acc = JSON.parse((await run("accounts", "create", "Big", "--json")).out) as { id: string };
      expect((await run("credits", "add", acc.id, "999999999")).code).toBe(0);
      const refused = await run("credits", "add", acc.id, "2");
      expect(refused.code).not.toBe(0);
      expect(refused.err).toContain("1000000000 USD");
      const shown = JSON.parse((await run("accounts", "show", acc.id, "--json")).out) as { balance_micros: number };
      expect(shown.balance_micros).toBe(999_999_999 * USD);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("configuration within the bound", () => {
  test("a top-up or sign-up credit above 10^9 USD does not load", () => {
    expect(() => loadConfig({ overrides: { topup_max: "1000000001" } })).toThrow("topup_max");
    expect(() => loadConfig({ overrides: { signup_credits_usd: "1000000001" } })).toThrow("signup_credits_usd");
    expect(loadConfig({ overrides: { topup_max: "1000000000" } }).topup_max).toBe(1e15);
  });
});
