import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import type Stripe from "stripe";
import { loadConfig } from "../src/config/load";
import { createAccount } from "../src/modules/accounts/service";
import { postWatchedCredit } from "../src/modules/alerts/credits";
import { AlertNotifier } from "../src/modules/alerts/notifier";
import { AlertService } from "../src/modules/alerts/service";
import type { BillingSettings } from "../src/modules/billing/amounts";
import { handleStripeEvent } from "../src/modules/billing/webhook";
import { postCredit } from "../src/money/ledger";
import { PgStore } from "../src/store/pg-store";
import { rows } from "../src/store/work";
import { RATE_LIMITED, startGateway, TestClock, type Gateway } from "./support/gateway";
import { freshPostgres } from "./support/postgres";
import { startReceiver } from "./support/webhook-receiver";

/**
 * A fired low-balance alert re-arms when available credit (the balance less holds) is back at the
 * threshold. A credit the gateway posts decides that with its holds; one written by another process
 * (the CLI) is judged by the balance it left. The refire interval is an hour here and never passes.
 */
const USD = 1_000_000;

let receiver: ReturnType<typeof startReceiver>;
let gw: Gateway;
beforeAll(async () => {
  receiver = startReceiver();
  gw = await startGateway({
    ...RATE_LIMITED,
    clock: new TestClock(),
    config: { alert_webhook_url: receiver.url, alert_webhook_secret: "alert-signing-secret-0123456789", alert_refire_seconds: 3600 },
  });
});
afterAll(async () => {
  await gw.stop();
  await receiver.stop();
});

const alerts = () => gw.runtime.deps.alerts!;
const credits = () => gw.runtime.deps.credits;
const hooksFor = (accountId: string) => receiver.bodies.filter((b) => JSON.parse(b).data.account_id === accountId).length;
/** Runs a check now, as the next settlement would, and waits for what it sends. */
const checked = async (accountId: string) => {
  await alerts().check(accountId);
  await alerts().settled();
  return hooksFor(accountId);
};
const armed = async (accountId: string) => ((await (await gw.admin(`/admin/accounts/${accountId}/alerts/low-balance`)).json()) as { armed: boolean }).armed;

let seq = 0;
/** Holds `amount` for a request in flight; resolves the request id. */
function hold(accountId: string, amount: number): string {
  const requestId = `req_rearm_${++seq}`;
  credits().reserve({ accountId, requestId, amount });
  return requestId;
}
async function spend(accountId: string, amount: number) {
  await credits().settle(hold(accountId, amount), amount);
  await alerts().settled();
}
const adminCredit = async (accountId: string, micros: number) =>
  expect((await gw.admin(`/admin/accounts/${accountId}/credits`, { body: { amount_micros: micros } })).status).toBe(201);

/** A customer with 10 USD, a threshold of 5 USD, and the alert fired once by a charge of 6 (4 left). */
async function firedCustomer() {
  const c = await gw.customer(10 * USD);
  const res = await fetch(`${gw.url}/v1/alerts/low-balance`, {
    method: "PUT",
    headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
    body: JSON.stringify({ threshold_micros: 5 * USD }),
  });
  expect(res.status).toBe(200);
  await spend(c.accountId, 6 * USD);
  expect(hooksFor(c.accountId)).toBe(1);
  return c;
}

const SETTINGS: BillingSettings = { enabled: true, currency: "usd", exponent: 2, presetsMinor: [], minMinor: 100, maxMinor: 100_000, creditPerUnit: USD };

function paidSession(accountId: string, amountMinor: number): Stripe.Event {
  const id = crypto.randomUUID().slice(0, 8);
  const session = {
    id: `cs_rearm_${id}`, object: "checkout.session", mode: "payment", payment_status: "paid", amount_total: amountMinor, currency: "usd",
    payment_intent: `pi_rearm_${id}`, metadata: { tollgate_account_id: accountId, tollgate_payment_id: `pay_rearm_${id}` },
  };
  return { id: `evt_rearm_${id}`, object: "event", type: "checkout.session.completed", data: { object: session } } as unknown as Stripe.Event;
}

describe("low-balance alerts re-arm on available credit", () => {
  test("a credit that lifts the balance above the threshold while holds keep available credit below it does not re-arm", async () => {
    const c = await firedCustomer();
    const r = hold(c.accountId, 3 * USD); // available 1
    await adminCredit(c.accountId, 2 * USD); // balance 6, held 3: available 3, still below 5
    expect(await checked(c.accountId)).toBe(1);
    expect(await armed(c.accountId)).toBe(false);
    // Spending further below is the same crossing.
    await credits().settle(r, 3 * USD); // balance 3
    await alerts().settled();
    expect(await checked(c.accountId)).toBe(1);
  });

  test("a credit that takes available credit back to the threshold re-arms at once: the next fall below alerts again", async () => {
    const c = await firedCustomer();
    const r = hold(c.accountId, 3 * USD);
    await adminCredit(c.accountId, 4 * USD); // balance 8, held 3: available 5, at the threshold
    expect(await armed(c.accountId)).toBe(true);
    expect(await checked(c.accountId)).toBe(1);
    await credits().settle(r, 3 * USD); // 5 left: not below
    await alerts().settled();
    expect(hooksFor(c.accountId)).toBe(1);
    await spend(c.accountId, USD); // 4: the second crossing, well within the refire interval
    expect(hooksFor(c.accountId)).toBe(2);
  });

  test("a credit below the threshold, then one back to it, re-arms (the first is seen, not forgotten)", async () => {
    const c = await firedCustomer();
    const r = hold(c.accountId, 3 * USD);
    await adminCredit(c.accountId, 2 * USD); // available 3
    await adminCredit(c.accountId, 2 * USD); // balance 8, available 5
    expect(await armed(c.accountId)).toBe(true);
    await credits().settle(r, 4 * USD); // 4 left
    await alerts().settled();
    expect(hooksFor(c.accountId)).toBe(2);
  });

  test("a credit written by another process (the CLI) re-arms by the balance it left", async () => {
    const c = await firedCustomer();
    const store = gw.runtime.deps.store;
    // As `tollgate credits add` does: through the ledger, without this gateway's alert service.
    await postCredit(store, { accountId: c.accountId, amountMicros: 10 * USD, actor: "cli", heldMicros: 0 }); // 14
    expect(await armed(c.accountId)).toBe(true);
    await spend(c.accountId, 10 * USD); // 4: a crossing no check saw the top of
    expect(hooksFor(c.accountId)).toBe(2);
    // A later in-process credit still below the threshold does not hide nor repeat it.
    const r = hold(c.accountId, 3 * USD);
    await adminCredit(c.accountId, 2 * USD); // available 3
    expect(await checked(c.accountId)).toBe(2);
    await credits().release(r);
  });

  test("a CLI credit before an in-process one still counts when the in-process one is decided", async () => {
    const c = await firedCustomer();
    const r = hold(c.accountId, 3 * USD);
    await postCredit(gw.runtime.deps.store, { accountId: c.accountId, amountMicros: 2 * USD, actor: "cli", heldMicros: 0 }); // balance 6
    await adminCredit(c.accountId, USD); // balance 7, held 3: available 4
    // The CLI's credit reached the threshold by its balance (its holds unknown there): re-armed.
    expect(await armed(c.accountId)).toBe(true);
    expect(await checked(c.accountId)).toBe(2);
    await credits().release(r);
  });

  test("redeemed codes and Stripe payments decide with the holds too", async () => {
    const c = await firedCustomer();
    const r = hold(c.accountId, 3 * USD);
    const batch = (await (await gw.admin("/admin/codes", { body: { count: 1, amount_micros: USD } })).json()) as { codes: { code: string }[] };
    const redeemed = await fetch(`${gw.url}/v1/credits/redeem`, {
      method: "POST",
      headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
      body: JSON.stringify({ code: batch.codes[0]!.code }),
    });
    expect(redeemed.status).toBe(200);
    expect(await checked(c.accountId)).toBe(1); // balance 5, available 2
    const pay = (minor: number) => handleStripeEvent(gw.runtime.deps.store, SETTINGS, paidSession(c.accountId, minor), Date.now(), alerts());
    expect((await pay(100)).result).toBe("credited"); // balance 6, available 3
    expect(await checked(c.accountId)).toBe(1);
    expect((await pay(200)).result).toBe("credited"); // balance 8, available 5: re-armed
    expect(await armed(c.accountId)).toBe(true);
    await credits().settle(r, 3 * USD); // 5 left
    await spend(c.accountId, USD); // 4
    expect(hooksFor(c.accountId)).toBe(2);
  });
});

test("on PostgreSQL too: a credit decides with the holds, one from another process by its balance", async () => {
  const store = await PgStore.open(await freshPostgres());
  const config = loadConfig({ overrides: { low_balance_threshold_usd: "5" } });
  // What the credit store would say: the balance as last read, and the holds of requests here.
  const state = { balance: 4 * USD, held: 0 };
  const balanceOf = () => ({ ...state, available: state.balance - state.held });
  const service = new AlertService(store, config, balanceOf, new AlertNotifier(store, config));
  const count = async () => Number((await store.read((q) => rows<{ n: unknown }>(sql`SELECT count(*) AS n FROM alert_events`)))[0]!.n);
  const credit = (micros: number) => postWatchedCredit(store, service, { accountId: id, amountMicros: micros, actor: "admin", heldMicros: 0 }, Date.now());
  const { id } = await createAccount(store, { name: "Low on pg" }, "test");
  try {
    await postCredit(store, { accountId: id, amountMicros: 4 * USD, actor: "test", heldMicros: 0 });
    expect(await service.check(id)).toStartWith("alr_");
    state.held = 3 * USD;
    await credit(2 * USD); // balance 6, held 3: available 3
    state.balance = 6 * USD;
    expect(await service.check(id)).toBeNull();
    expect((await service.view(id)).armed).toBe(false);
    await credit(2 * USD); // balance 8, held 3: available 5
    expect((await service.view(id)).armed).toBe(true);
    await postCredit(store, { accountId: id, amountMicros: -4 * USD, actor: "admin", heldMicros: 0 });
    state.balance = 4 * USD;
    expect(await service.check(id)).toStartWith("alr_");
    // As the CLI: no holds known, the balance it left (above 5) re-arms.
    await postCredit(store, { accountId: id, amountMicros: 2 * USD, actor: "cli", heldMicros: 0 });
    expect((await service.view(id)).armed).toBe(true);
    expect(await count()).toBe(2);
  } finally {
    await service.settled();
    service.notifier.stop();
    await store.close();
  }
});
