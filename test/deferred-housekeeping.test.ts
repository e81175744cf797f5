/**
 * Deferred requests' rows are kept for good, and every minute the poller's housekeeping clears
 * the results kept a day after their settlement, on the event loop that serves every customer.
 * It goes through a partial index of the rows that still keep a result, so it reads only the rows
 * it changes: a long history of deferred requests (a million here) stalls nothing, where walking
 * every settled row held every request up for over 100 ms per run.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { forgetResultsQuery } from "../src/gateway/deferred";
import { settleDeferred } from "../src/gateway/deferred-results";
import { loopLagDuring } from "./support/loop-lag";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);
let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
});
afterAll(async () => {
  await gw.stop();
});

const DAY = 86_400_000;

test("the clean-up of kept results searches the partial index of rows with a result", () => {
  const store = gw.runtime.deps.store;
  const { sql, params } = forgetResultsQuery({ db: store.db, t: store.t }, Date.now() - DAY).toSQL();
  const explain = store.sqlite.prepare<{ detail: string }, never[]>(`EXPLAIN QUERY PLAN ${sql}`);
  const plan = explain.all(...(params as never[]));
  explain.finalize();
  expect(plan.map((p) => p.detail).join("\n")).toMatch(/^SEARCH deferred_requests USING INDEX deferred_results_kept \(settled_at<\?\)$/);
});

test("with a million old deferred requests, the minute's housekeeping does not stall the event loop, and still clears what is due", async () => {
  const db = gw.runtime.deps.store.sqlite;
  const now = Date.now();
  const N = 1_000_000;
  const row = "INSERT INTO deferred_requests (request_id, upstream_id, account_id, key_id, target, model, hold_micros, settled_at, charge_micros, created_at, result) VALUES (?, 'u', 'acc', 'k', 'fake#1', 'grok-4', 10, ?, 5, ?, ?)";
  db.run("BEGIN");
  const ins = db.prepare(row);
  // Charged long ago, their results forgotten already: nothing for the housekeeping to do.
  for (let i = 0; i < N; i++) ins.run(`req_old_${i}`, now - 30 * DAY + i, now - 30 * DAY + i, null);
  // Two whose day of keeping is over, one still kept.
  ins.run("req_due_1", now - 2 * DAY, now - 2 * DAY, "{}");
  ins.run("req_due_2", now - DAY - 60_000, now - DAY - 60_000, "{}");
  ins.run("req_kept", now - 60_000, now - 60_000, "{}");
  db.run("COMMIT");
  ins.finalize();
  let maxLag = 0;
  for (let k = 0; k < 2; k++) maxLag = Math.max(maxLag, await loopLagDuring(() => settleDeferred(gw.runtime.deps)));
  expect(maxLag).toBeLessThan(50);
  const kept = db.query<{ request_id: string }, []>("SELECT request_id FROM deferred_requests WHERE result IS NOT NULL").all();
  expect(kept.map((r) => r.request_id)).toEqual(["req_kept"]);
});
