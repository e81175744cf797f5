import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, ensureBinary } from "./support/binary";
import { startGateway, TestClock, type Gateway } from "./support/gateway";
import { startReceiver } from "./support/webhook-receiver";

/**
 * A top-up by the CLI while the gateway still has charges only in its settlement journal (within
 * settle_batch_ms, always under load): its ledger entry comes before those charges, so its
 * balance_after is above the real balance. The CLI says the real balance, and the low-balance
 * alert decides with the credit from it: a top-up that leaves the balance below the threshold is
 * the same crossing, not a second alert.
 */
setDefaultTimeout(60_000);
const USD = 1_000_000;
const dir = mkdtempSync(join(tmpdir(), "tollgate-alert-cli-credit-"));
const dbPath = join(dir, "tollgate.db");
let gw: Gateway;
const receiver = startReceiver();
afterAll(async () => {
  await gw?.stop();
  await receiver.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a CLI top-up that leaves the balance below the threshold does not lead to a second alert", async () => {
  await ensureBinary();
  gw = await startGateway({
    dbPath,
    clock: new TestClock(),
    // Charges stay in the settlement journal for 10 s (a busy gateway always has some there).
    config: { settle_batch_ms: 10_000, alert_webhook_url: receiver.url, alert_webhook_secret: "alert-signing-secret-0123456789", alert_refire_seconds: 3600 },
  });
  const c = await gw.customer(10 * USD);
  const put = await fetch(`${gw.url}/v1/alerts/low-balance`, {
    method: "PUT",
    headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
    body: JSON.stringify({ threshold_micros: 5 * USD }),
  });
  expect(put.status).toBe(200);
  const credits = gw.runtime.deps.credits;
  const alerts = gw.runtime.deps.alerts!;
  let seq = 0;
  const spend = async (amount: number) => {
    const id = `req_cli_credit_${++seq}`;
    credits.reserve({ accountId: c.accountId, requestId: id, amount });
    await credits.settle(id, amount);
    await alerts.settled();
  };

  await spend(6 * USD); // 4 USD left: below 5, the alert fires once
  expect(receiver.bodies.length).toBe(1);

  // The operator adds 0.5 USD with the CLI: the balance is 4.5 USD, still below the threshold.
  writeFileSync(join(dir, "cli.json"), JSON.stringify({ db_path: dbPath }));
  const p = Bun.spawn([BIN, "credits", "add", c.accountId, "0.5", "--config", join(dir, "cli.json"), "--json"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(err).toBe("");
  expect(code).toBe(0);
  const entry = JSON.parse(out) as { balance_after_micros: number; balance_micros: number };
  // The ledger's chain has the credit before the 6 USD still journaled; the CLI says the balance as it is.
  expect(entry).toMatchObject({ balance_after_micros: 10.5 * USD, balance_micros: 4.5 * USD });
  await Bun.sleep(20); // the gateway sees the other process's commit from the next turn
  expect(credits.balance(c.accountId).balance).toBe(4.5 * USD);

  await spend(0.1 * USD); // 4.4 USD: still the same crossing
  expect(receiver.bodies.map((b) => JSON.parse(b).data.available_usd)).toEqual(["4"]);
});
