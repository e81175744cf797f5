import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../src/config/load";
import { RATE_LIMITED, startGateway, TestClock, type Gateway } from "./support/gateway";
import { startReceiver } from "./support/webhook-receiver";

/**
 * A customer key can change its account's low-balance threshold as often as it likes: moving it
 * above and below the balance must not turn into a webhook (and email) per change. One alert per
 * crossing; threshold changes re-fire it at most once per `alert_refire_seconds`.
 */
const USD = 1_000_000;
const SECRET = "alert-signing-secret-0123456789";

let receiver: ReturnType<typeof startReceiver>;
let gw: Gateway;
beforeAll(async () => {
  receiver = startReceiver();
  gw = await startGateway({ ...RATE_LIMITED, clock: new TestClock(), config: { alert_webhook_url: receiver.url, alert_webhook_secret: SECRET, alert_refire_seconds: 600 } });
});
afterAll(async () => {
  await gw.stop();
  await receiver.stop();
});

const hooksFor = (accountId: string) => receiver.bodies.filter((b) => JSON.parse(b).data.account_id === accountId).length;
const settled = () => gw.runtime.deps.alerts!.settled();

async function setThreshold(key: string, micros: number | null): Promise<number> {
  const res = await fetch(`${gw.url}/v1/alerts/low-balance`, {
    method: "PUT",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ threshold_micros: micros }),
  });
  return res.status;
}

let seq = 0;
async function spend(accountId: string, amount: number) {
  const requestId = `req_refire_${++seq}`;
  gw.runtime.deps.credits.reserve({ accountId, requestId, amount });
  await gw.runtime.deps.credits.settle(requestId, amount);
}

describe("low-balance alerts cannot be flooded", () => {
  test("100 threshold changes by a customer key send one alert; after the refire interval, one more", async () => {
    const c = await gw.customer(10 * USD);
    for (let i = 0; i < 100; i++) expect(await setThreshold(c.key, i % 2 === 0 ? 20 * USD : USD)).toBe(200);
    await settled();
    expect(hooksFor(c.accountId)).toBe(1);

    // Within the interval nothing changes, whatever the key does.
    gw.clock.add(599_000);
    for (let i = 0; i < 20; i++) await setThreshold(c.key, i % 2 === 0 ? 30 * USD : null);
    await settled();
    expect(hooksFor(c.accountId)).toBe(1);

    // Once the interval has passed, a change may fire it again: once.
    gw.clock.add(2_000);
    for (let i = 0; i < 20; i++) await setThreshold(c.key, i % 2 === 0 ? 20 * USD : USD);
    await settled();
    expect(hooksFor(c.accountId)).toBe(2);
  });

  test("a real crossing (credit back above the threshold, then spending below it) still alerts at once", async () => {
    const c = await gw.customer(10 * USD);
    expect(await setThreshold(c.key, 20 * USD)).toBe(200);
    await settled();
    expect(hooksFor(c.accountId)).toBe(1);
    await gw.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: 15 * USD } });
    await spend(c.accountId, 6 * USD);
    await settled();
    expect(hooksFor(c.accountId)).toBe(2);
    // Spending further below it is the same crossing.
    await spend(c.accountId, USD);
    await settled();
    expect(hooksFor(c.accountId)).toBe(2);
  });

  test("an admin adjustment that takes the balance below the threshold alerts, once", async () => {
    const c = await gw.customer(10 * USD);
    expect(await setThreshold(c.key, 5 * USD)).toBe(200);
    const adjust = () => gw.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: -3 * USD } });
    expect((await adjust()).status).toBe(201); // 7 left
    await settled();
    expect(hooksFor(c.accountId)).toBe(0);
    expect((await adjust()).status).toBe(201); // 4 left: crosses below
    await settled();
    expect(hooksFor(c.accountId)).toBe(1);
    expect((await adjust()).status).toBe(201); // 1 left: the same crossing
    await settled();
    expect(hooksFor(c.accountId)).toBe(1);
  });

  test("alert_refire_seconds is configurable (env TOLLGATE_ALERT_REFIRE_SECONDS), one hour by default", () => {
    expect(loadConfig().alert_refire_seconds).toBe(3600);
    expect(loadConfig({ env: { TOLLGATE_ALERT_REFIRE_SECONDS: "60" } }).alert_refire_seconds).toBe(60);
    expect(() => loadConfig({ env: { TOLLGATE_ALERT_REFIRE_SECONDS: "-1" } })).toThrow("alert_refire_seconds");
  });
});
