/**
 * The poller of deferred results nobody fetched asks the upstream at most 200 times a run (the
 * shared key's rate limit is everyone's). One customer parking more than that a minute, within its
 * own limits, must not hold back another customer's requests: the run shares its asks out between
 * accounts, one account's turn after another's. And a large backlog must not stall the event loop
 * for everyone while the run picks what to ask: it is read in slices of ids and ages off the
 * pending index, the event loop served between slices. The poller is run as its timer runs it
 * (settleDeferred once a simulated minute, TestClock).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { settleDeferred } from "../src/gateway/deferred-results";
import { chat, user } from "./support/chat";
import { startGateway, TestClock, type Gateway } from "./support/gateway";
import { loopLagDuring } from "./support/loop-lag";

setDefaultTimeout(120_000);
const clock = new TestClock();
let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ upstream: true, clock });
});
afterAll(() => gw?.stop());

async function park(key: string, mock: Record<string, unknown>): Promise<string> {
  const res = await chat(gw.url, key, { model: "cheap", messages: user("x"), max_tokens: 1, deferred: true, mock });
  expect(res.status).toBe(200);
  return ((await res.json()) as { request_id: string }).request_id;
}

const minute = async () => {
  clock.add(61_000);
  await settleDeferred(gw.runtime.deps);
};

test("another customer's result is asked for at the first run after its first minute, whatever one customer has parked", async () => {
  const a = await gw.customer(100_000_000); // default plan: 600 RPM
  const b = await gw.customer(10_000_000);
  // A parks 600 requests a minute, its plan's RPM, for three minutes: its results are still being worked on.
  for (let m = 0; m < 3; m++) {
    if (m > 0) await minute();
    for (let i = 0; i < 600; i += 50) await Promise.all(Array.from({ length: 50 }, () => park(a.key, { deferred_ms: 3_600_000 })));
  }
  // B parks one whose result is ready at once.
  const mine = await park(b.key, { deferred_ms: 50, prompt_tokens: 5, completion_tokens: 1 });
  await Bun.sleep(200);
  await minute();
  expect((await gw.runtime.deps.deferred.get(mine))?.settledAt ?? null).not.toBeNull();
  // A's requests still got the rest of the run's asks (nothing of it was wasted on the sharing).
  expect(gw.runtime.deps.deferred.polled.size).toBeGreaterThanOrEqual(200);
});

/** The longest the event loop went without a 5 ms timer firing during one poller run. */
const pollerRunLag = () => loopLagDuring(minute, 30);

test("a backlog of 250,000 pending requests does not stall the event loop for its run", async () => {
  const a = await gw.customer(100_000_000);
  const first = await park(a.key, { deferred_ms: 36_000_000 });
  const baseline = Math.max(await pollerRunLag(), await pollerRunLag());
  // Ten hours of one customer parking at 600 RPM while the poller drains 200 a minute: its parked
  // request copied under new ids (HTTP would take too long here).
  gw.runtime.deps.store.sqlite.run(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250000)
     INSERT INTO deferred_requests (request_id, upstream_id, account_id, key_id, cap_key_id, member_id, target, model, hold_micros, prices, prompt_estimate, settled_at, charge_micros, created_at, result, fetching_until, parked_by)
     SELECT request_id || '_' || i, upstream_id, account_id, key_id, cap_key_id, member_id, target, model, hold_micros, prices, prompt_estimate, NULL, NULL, created_at, NULL, NULL, parked_by
     FROM deferred_requests, n WHERE request_id = ?`,
    [first],
  );
  const withBacklog = Math.max(await pollerRunLag(), await pollerRunLag());
  // Generous: a 5 ms timer jitters, and a collection may fall in a run; the unsliced read took seconds.
  expect(withBacklog).toBeLessThan(Math.max(20 * baseline, 400));
});
