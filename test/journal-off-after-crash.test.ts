import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "./support/binary";
import { chat, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

/**
 * A gateway killed with charges only in its settlement journal, restarted with the journal turned
 * off (settle_batch_ms = 0): the start still writes those charges to SQLite (once) and empties the
 * file, so turning the journal off never drops a charge.
 */
setDefaultTimeout(60_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-journal-off-"));
const upstream = startFakeUpstream();
const running: BinaryGateway[] = [];
afterAll(async () => {
  for (const b of running) await b.stop("SIGKILL");
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

const dbPath = join(dir, "tollgate.db");
const start = async (settleBatchMs: number) => {
  writeFileSync(join(dir, "tollgate.json"), JSON.stringify({ ...fakeCatalogue(upstream.url), db_path: dbPath, settle_batch_ms: settleBatchMs }));
  const gw = await startBinaryGateway({ dir, configFile: "tollgate.json" });
  running.push(gw);
  return gw;
};
/** The ledger's charges in the database file: how many, and their sum. */
const ledger = (): { n: number; s: number } => {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.query<{ n: number; s: number }, []>("SELECT count(*) AS n, coalesce(-sum(amount_micros), 0) AS s FROM ledger_entries WHERE kind = 'charge'").get()!;
  } finally {
    db.close();
  }
};
const charges = () => ledger().n;

test("a start with settle_batch_ms 0 after a crash still writes the dead process's journaled charges", async () => {
  await ensureBinary();
  let gw = await start(10_000);
  const { accountId, key } = await gw.customer(20_000_000, {}, { name: "Crash Co" });
  for (let i = 0; i < 5; i++) {
    const res = await chat(gw.url, key, { model: "grok-4", messages: user(`r${i}`), mock: { completion_tokens: 7 } });
    expect(res.status).toBe(200);
    await res.json();
  }
  // The 10 s batch window: the five charges are in the journal only.
  expect(charges()).toBe(0);
  gw.proc.kill("SIGKILL");
  await gw.proc.exited;
  expect(statSync(`${dbPath}-settlements`).size).toBeGreaterThan(0);

  // Restarted with the journal off.
  gw = await start(0);
  const balance = await gw.balance(accountId);
  expect(await gw.stop("SIGTERM")).toBe(0);
  expect(charges()).toBe(5);
  expect(balance).toBe(20_000_000 - ledger().s);
  expect(readFileSync(`${dbPath}-settlements`, "utf8")).toBe("");
  // Started again (the journal still off): nothing is applied twice.
  gw = await start(0);
  expect(await gw.balance(accountId)).toBe(balance);
  expect(await gw.stop("SIGTERM")).toBe(0);
  expect(charges()).toBe(5);
});
