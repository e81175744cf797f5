/**
 * The redeem throttle (20 codes that did not redeem an hour per account) counts only codes that
 * are unknown, used elsewhere or expired, never a redemption the storage refused: with the disk
 * really full (a small tmpfs, ENOSPC), a valid code tried 20 times gets 20 server errors, and once
 * the disk has room again the same code redeems instead of locking the account out for an hour.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { startGateway, type Gateway } from "./support/gateway";
import { smallDisk } from "./support/small-disk";

setDefaultTimeout(60_000);
const disk = smallDisk(4);
let gw: Gateway;
beforeAll(async () => {
  if (disk.mounted) gw = await startGateway({ dbPath: join(disk.path, "tollgate.db") });
});
afterAll(async () => {
  await gw?.stop();
});

const redeem = (key: string, code: string) =>
  fetch(`${gw.url}/v1/credits/redeem`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ code }) });

test("a valid code the full disk refused 20 times redeems once the disk has room again", async () => {
  if (!disk.mounted) return console.warn("skipped: this root may not mount");
  const c = await gw.customer(0);
  const b = (await (await gw.admin("/admin/codes", { body: { count: 1, amount_micros: 1_000_000 } })).json()) as { codes: { code: string }[] };
  const code = b.codes[0]!.code;
  await Bun.sleep(300);
  // The WAL emptied (as a truncating checkpoint leaves it): the next write must grow it, on a full disk.
  gw.runtime.deps.store.sqlite.run("PRAGMA wal_checkpoint(TRUNCATE)");
  disk.fill();
  const during: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await redeem(c.key, code);
    during.push(r.status);
    await r.text();
  }
  disk.free();
  expect(during.every((s) => s >= 500)).toBe(true);

  // Storage is back (a 503 while the gateway still thinks otherwise is retried): the code redeems.
  let last!: Response;
  for (let i = 0; i < 20; i++) {
    last = await redeem(c.key, code);
    if (last.status !== 503) break;
    await last.text();
    await Bun.sleep(200);
  }
  const body = await last.text();
  expect({ status: last.status, body: last.status === 200 ? "" : body }).toEqual({ status: 200, body: "" });
  expect((await gw.account(c.accountId)).balance_micros).toBe(1_000_000);
});
