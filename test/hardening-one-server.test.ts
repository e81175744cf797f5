/**
 * One gateway process per SQLite database: each keeps its holds in memory, so two on one file
 * could each spend a customer's credit once (the balance below zero with no overage). A second
 * `serve` on the same file, journal on or off, refuses to start, naming the lock and the way to
 * run several instances (PostgreSQL), and changes nothing; once the first has stopped, it starts.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { BIN } from "./support/binary";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

setDefaultTimeout(90_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-one-server-"));
const upstream = startFakeUpstream();
const running: BinaryGateway[] = [];
afterAll(async () => {
  for (const g of running) await g.stop("SIGKILL");
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `serve` run next to the first: its exit code and stderr (it must not start listening). */
function secondServe(env: Record<string, string>): { code: number | null; err: string } {
  const p = Bun.spawnSync([BIN, "serve", "--config", "tollgate.json"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: dir, PORT: "0", HOST: "127.0.0.1", ...env },
    timeout: 20_000,
  });
  return { code: p.exitCode, err: p.stderr.toString() };
}

test.each([["journal on", "100"], ["journal off", "0"]])("a second serve on the same database refuses to start (%s)", async (_, batchMs) => {
  writeFileSync(join(dir, "tollgate.json"), JSON.stringify({ ...fakeCatalogue(upstream.url), db_path: join(dir, "tollgate.db") }));
  const env = { TOLLGATE_SETTLE_BATCH_MS: batchMs };
  const first = await startBinaryGateway({ dir, configFile: "tollgate.json", env });
  running.push(first);
  const c = await first.customer(20_000);
  const second = secondServe(env);
  expect(second.code).toBe(1);
  expect(second.err).toContain(`another gateway process serves ${join(dir, "tollgate.db")}`);
  expect(second.err).toContain("tollgate.db-settlements.lock");
  expect(second.err).toContain("PostgreSQL");
  // The first serves on, untouched.
  expect(await first.balance(c.accountId)).toBe(20_000);
  expect(await first.stop("SIGTERM")).toBe(0);
  // Once it has stopped, a new one starts on the same database.
  const next = await startBinaryGateway({ dir, configFile: "tollgate.json", env });
  running.push(next);
  expect(await next.balance(c.accountId)).toBe(20_000);
  expect(await next.stop("SIGTERM")).toBe(0);
});

test("a refused second serve writes nothing: not even a migration the running one has not applied", async () => {
  const db = join(dir, "older.db");
  writeFileSync(join(dir, "older.json"), JSON.stringify({ ...fakeCatalogue(upstream.url), db_path: db }));
  const first = await startBinaryGateway({ dir, configFile: "older.json" });
  running.push(first);
  // The running gateway's database as an older release left it: its newest migration not applied.
  const sql = new Database(db);
  sql.exec("PRAGMA busy_timeout = 5000");
  sql.exec("ALTER TABLE web_sessions DROP COLUMN admin_fingerprint");
  sql.exec("DELETE FROM __drizzle_migrations WHERE id = (SELECT max(id) FROM __drizzle_migrations)");
  const migrations = () => sql.query<{ n: number }, []>("SELECT count(*) AS n FROM __drizzle_migrations").get()!.n;
  const before = migrations();
  const p = Bun.spawnSync([BIN, "serve", "--config", "older.json"], { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir, PORT: "0", HOST: "127.0.0.1" }, timeout: 20_000 });
  expect(p.exitCode).toBe(1);
  expect(p.stderr.toString()).toContain("another gateway process serves");
  const columns = sql.query<{ name: string }, []>("SELECT name FROM pragma_table_info('web_sessions')").all().map((c) => c.name);
  expect({ migrations: migrations(), fingerprint: columns.includes("admin_fingerprint") }).toEqual({ migrations: before, fingerprint: false });
  sql.close();
  await first.stop("SIGKILL");
});
