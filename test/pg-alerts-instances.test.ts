/**
 * The low-balance alert with two gateway instances on one PostgreSQL database, as behind a load
 * balancer: a request in flight held on one instance is invisible to the other's holds, but its
 * lease is in credit_leases. A credit, or a check after a settlement, on either instance re-arms
 * the alert only when available credit is back at the threshold counting the other instance's
 * leases: one alert per crossing, wherever the credit lands.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { sql } from "drizzle-orm";
import { loadConfig } from "../src/config/load";
import { postWatchedCredit } from "../src/modules/alerts/credits";
import { AlertNotifier } from "../src/modules/alerts/notifier";
import { AlertService } from "../src/modules/alerts/service";
import { PgStore } from "../src/store/pg-store";
import { rows } from "../src/store/work";
import { pgAccount, pgCredit, tryHold } from "./support/pg-credit";
import { freshPostgres } from "./support/postgres";

setDefaultTimeout(120_000);
const USD = 1_000_000;

let store: PgStore;
beforeAll(async () => {
  store = await PgStore.open(await freshPostgres());
});
afterAll(() => store?.close());

/** Two instances' credit stores and alert services on the one database (threshold 5 USD, re-arm at once). */
function twoInstances() {
  const config = loadConfig({ overrides: { low_balance_threshold_usd: "5", alert_refire_seconds: 0 } });
  const [a, b] = (["a", "b"] as const).map((name) => {
    const credits = pgCredit(store, name);
    const alerts = new AlertService(store, config, (id) => credits.balance(id), new AlertNotifier(store, config));
    alerts.watch(credits);
    return { credits, alerts };
  });
  const stop = async () => {
    for (const i of [a!, b!]) {
      await i.alerts.settled();
      i.alerts.notifier.stop();
      await i.credits.flush();
    }
  };
  return { a: a!, b: b!, stop };
}

/** Runs a scenario on two fresh instances, and stops them (their checks, deliveries and writes) after it, whatever it did. */
async function onTwoInstances(scenario: (i: { a: Instance; b: Instance }) => Promise<void>): Promise<void> {
  const { a, b, stop } = twoInstances();
  try {
    await scenario({ a, b });
  } finally {
    await stop();
  }
}

type Instance = ReturnType<typeof twoInstances>["a"];
type Owners = Awaited<ReturnType<typeof pgAccount>>;

/** A request held and charged `amount` on an instance, its alert check run. */
async function spend(on: Instance, o: Owners, requestId: string, amount: number): Promise<void> {
  expect(await tryHold(on.credits, o, requestId, amount)).toBe(true);
  await on.credits.settle(requestId, amount);
  await on.alerts.settled();
}

/** A credit posted on an instance, as the admin API posts it (its alert decided in the credit's transaction). */
async function topUp(on: Instance, o: Owners, amount: number): Promise<void> {
  await postWatchedCredit(store, on.alerts, { accountId: o.accountId, amountMicros: amount, actor: "admin", heldMicros: 0 }, Date.now());
}

const alertsOf = async (accountId: string) =>
  Number((await store.read((q) => rows<{ n: unknown }>(sql`SELECT count(*) AS n FROM alert_events WHERE account_id = ${accountId}`)))[0]!.n);

for (const creditOn of ["a", "b"] as const) {
  test(`a credit posted on instance ${creditOn} while b's request in flight keeps available credit below the threshold re-arms nothing`, async () => {
    await onTwoInstances(async ({ a, b }) => {
      const o = await pgAccount(store, 10 * USD);
      // b serves the customer: 6 spent, 4 left: the alert fires.
      await spend(b, o, "r1", 6 * USD);
      expect(await alertsOf(o.accountId)).toBe(1);
      // A request in flight on b holds 3; a top-up of 2: balance 6, available 3, still below.
      expect(await tryHold(b.credits, o, "r2", 3 * USD)).toBe(true);
      const on = creditOn === "a" ? a : b;
      await topUp(on, o, 2 * USD);
      expect((await a.alerts.view(o.accountId)).armed).toBe(false);
      // The request is charged its 3: balance 3, the same crossing as before: no second alert.
      await b.credits.settle("r2", 3 * USD);
      await b.alerts.settled();
      expect(await alertsOf(o.accountId)).toBe(1);
    });
  });
}

test("a check after a settlement on one instance does not re-arm while the other's request in flight keeps available credit below", async () => {
  await onTwoInstances(async ({ a, b }) => {
    const o = await pgAccount(store, 10 * USD);
    // a holds 3 for a request in flight; b's customer spends 6: balance 4 (available 1): the alert.
    expect(await tryHold(a.credits, o, "q0", 3 * USD)).toBe(true);
    await spend(b, o, "q1", 6 * USD);
    expect(await alertsOf(o.accountId)).toBe(1);
    // A top-up of 3 on b while b holds 1: balance 7, available 3 (a's 3 and b's 1 held): no re-arm.
    expect(await tryHold(b.credits, o, "q2", 1 * USD)).toBe(true);
    await topUp(b, o, 3 * USD);
    // b leases again for its next request (0.5), so it reads the new balance; its request of 1 is
    // charged 0.1: b alone sees 6.4 available, a's lease keeps it at 3.4.
    expect(await tryHold(b.credits, o, "q3", USD / 2)).toBe(true);
    await b.credits.settle("q2", USD / 10);
    await b.alerts.settled();
    expect(b.credits.balance(o.accountId).available).toBe(6.4 * USD);
    expect((await b.alerts.view(o.accountId)).armed).toBe(false);
    // The requests are charged: balance 3.4, the same crossing: no second alert.
    await b.credits.settle("q3", USD / 2);
    await a.credits.settle("q0", 3 * USD);
    await a.alerts.settled();
    expect(await alertsOf(o.accountId)).toBe(1);
  });
});

test("a credit that lifts available credit above the threshold, other instances' leases counted, re-arms the alert", async () => {
  await onTwoInstances(async ({ a, b }) => {
    const o = await pgAccount(store, 10 * USD);
    await spend(b, o, "s1", 6 * USD);
    expect(await alertsOf(o.accountId)).toBe(1);
    // b holds 1 in flight; a top-up of 10 on a: balance 14, available 13 at the most: re-armed.
    expect(await tryHold(b.credits, o, "s2", 1 * USD)).toBe(true);
    await topUp(a, o, 10 * USD);
    expect((await a.alerts.view(o.accountId)).armed).toBe(true);
    // The next crossing alerts again.
    await b.credits.settle("s2", 1 * USD);
    await spend(b, o, "s3", 10 * USD);
    expect(await alertsOf(o.accountId)).toBe(2);
  });
});
