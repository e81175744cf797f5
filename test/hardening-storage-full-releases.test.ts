/**
 * Releases the storage refuses (a real ENOSPC on a small tmpfs): a request whose upstream failed
 * still leaves its one request log line when its hold's release cannot be written, and that
 * release is retried until it is (the hold then gone, its usage row written). A release written by
 * such a retry, or by the retry of a whole answer whose charge failed, is counted in the metrics
 * as its usage row is.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import type { SqliteStore } from "../src/store/sqlite-store";
import { chat, user } from "./support/chat";
import { startLogged, type LoggedGateway } from "./support/logged-gateway";
import { smallDisk } from "./support/small-disk";

setDefaultTimeout(60_000);
const disk = smallDisk(4);
let gw: LoggedGateway;
beforeAll(async () => {
  if (disk.mounted) gw = await startLogged({ db_path: join(disk.path, "tollgate.db") });
});
afterAll(async () => {
  await gw?.stop().catch(() => {});
});

const requestsTotal = async () => {
  const text = await (await gw.admin("/metrics")).text();
  return [...text.matchAll(/^tollgate_chat_requests_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
};
const usageRow = (id: string) => (gw.runtime.deps.store as SqliteStore).sqlite.query<{ status: number; error_code: string | null }, [string]>("SELECT status, error_code FROM usage_log WHERE request_id = ?").get(id);

async function waitRow(id: string) {
  for (let i = 0; i < 150; i++) {
    const row = usageRow(id);
    if (row) return row;
    await Bun.sleep(100);
  }
  return null;
}

test.skipIf(!disk.mounted)("a failed request's release the disk refuses: its log line at once, the release and its metric once there is room", async () => {
  const c = await gw.customer(10_000_000);
  const ok = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 10, completion_tokens: 5 } });
  expect(ok.status).toBe(200);
  await ok.text();
  await Bun.sleep(300);
  disk.fill();
  const failed = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { status: 500 } });
  await failed.text();
  const id = failed.headers.get("x-request-id")!;
  expect(gw.requestLines(id)).toHaveLength(1);
  expect(gw.requestLines(id)[0]).toMatchObject({ status: 500, error_code: "release_not_recorded" });
  disk.free();
  expect(await waitRow(id)).toMatchObject({ status: 502 });
  expect((await gw.account(c.accountId)).held_micros).toBe(0);
  // Every usage row counted once in the metrics: the released request's included.
  const rows = (gw.runtime.deps.store as SqliteStore).sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM usage_log").get()!.n;
  expect(await requestsTotal()).toBe(rows);
  expect(gw.requestLines(id)).toHaveLength(1);
});

test.skipIf(!disk.mounted)("a whole answer whose charge the disk refused: its release, written later, is counted in the metrics", async () => {
  const c = await gw.customer(10_000_000);
  await Bun.sleep(300);
  disk.fill();
  const failed = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 10, completion_tokens: 5 } });
  expect(failed.status).toBe(500);
  await failed.text();
  const id = failed.headers.get("x-request-id")!;
  disk.free();
  expect(await waitRow(id)).toMatchObject({ status: 500, error_code: "charge_not_recorded" });
  const rows = (gw.runtime.deps.store as SqliteStore).sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM usage_log").get()!.n;
  expect(await requestsTotal()).toBe(rows);
});
