/**
 * A delivered stream whose charge failed to commit waits for its retry, and its hold is kept from
 * the sweeper until the charge is written, whatever else commits meanwhile: another customer's
 * request going through (the storage working again for it) must not leave the waiting charge's
 * hold open to the sweeper (a recovery that retried the waiting charges at once, outside their
 * own retry, did: the stream went out free). The charge is written at its own retry.
 * (In memory, settlements commit straight to SQLite: a trigger fails one account's.)
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { chat, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
let gw: Gateway;
afterAll(async () => {
  await gw?.stop();
});

test("a waiting stream charge keeps its hold from the sweeper while others commit, and is written at its retry", async () => {
  gw = await startGateway({ upstream: true });
  const a = await gw.customer(10_000_000);
  const b = await gw.customer(10_000_000);
  const sql = gw.runtime.deps.store.sqlite;
  // A's charges fail to commit (a flapping storage, seen per commit); B's commit.
  sql.exec(`CREATE TRIGGER fail_a BEFORE INSERT ON ledger_entries WHEN NEW.account_id = '${a.accountId}' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
  const s = await chat(gw.url, a.key, { model: "grok-4", messages: user(), stream: true, mock: { prompt_tokens: 10, completion_tokens: 40 } });
  expect(s.status).toBe(200);
  await s.text();
  await Bun.sleep(100);
  const far = Date.now() + 3_600_000;
  // Control: while retained, the sweeper leaves the hold alone even long past its expiry.
  expect(await gw.runtime.deps.credits.sweep(far)).toBe(0);
  // B's request gets through (one a second is admitted) and commits.
  let served = false;
  for (const started = Date.now(); !served && Date.now() - started < 5_000; ) {
    const r = await chat(gw.url, b.key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 10, completion_tokens: 5 } });
    served = r.status === 200;
    await r.text();
    if (!served) await Bun.sleep(100);
  }
  expect(served).toBe(true);
  await Bun.sleep(50);
  // The sweeper runs (every 5 s; the hold is old by now): it must still leave the retained hold alone.
  const swept = await gw.runtime.deps.credits.sweep(far);
  // The storage is fine again: A's retry at its backed-off time must write the charge.
  sql.exec("DROP TRIGGER fail_a");
  await Bun.sleep(4_500);
  const charged = sql.query<{ n: number }, [string]>("SELECT count(*) AS n FROM ledger_entries WHERE account_id = ? AND amount_micros < 0").get(a.accountId)!.n;
  expect({ swept, charged, balanceDown: (await gw.account(a.accountId)).balance_micros < 10_000_000 }).toEqual({ swept: 0, charged: 1, balanceDown: true });
});
