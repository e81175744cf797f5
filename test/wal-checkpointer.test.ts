/**
 * SQLite's WAL checkpoints on their own thread: the committing connection never copies the log
 * into the database file (the 10–20 ms stall of a checkpoint inside a commit), the thread does;
 * if the thread cannot run, the connection checkpoints by itself again.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../src/store/sqlite-store";
import { WalCheckpointer } from "../src/store/wal-checkpointer";
import { until } from "./support/chat";

const dir = mkdtempSync(join(tmpdir(), "tollgate-wal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const autoPages = (db: Database) => (db.query("PRAGMA wal_autocheckpoint").get() as { wal_autocheckpoint: number }).wal_autocheckpoint;
/** About 8 MB in one transaction: well past the 1,000 pages at which a connection checkpoints by itself. */
const writeMegabytes = (s: SqliteStore) =>
  s.write(() => {
    const insert = s.sqlite.prepare("INSERT INTO blobs (b) VALUES (randomblob(4000))");
    for (let i = 0; i < 2_000; i++) insert.run();
  });

/** A store whose checkpoint thread is up, with a bound of 1,000 pages (4 MiB) standing for the gateway's 256 MiB. */
async function boundedStore(file: string): Promise<SqliteStore> {
  const s = new SqliteStore(file);
  s.sqlite.exec("CREATE TABLE blobs (b BLOB)");
  s.checkpointOffThread(1_000);
  s.write(() => s.sqlite.exec("INSERT INTO blobs (b) VALUES (x'00')"));
  expect(await until(() => s.checkpointsOffThread, 10_000)).toBe(true);
  return s;
}

describe("WAL checkpoints off the event loop", () => {
  test("once the thread is up, a large commit leaves the database file alone and the thread copies it", async () => {
    const file = join(dir, "off.db");
    const s = new SqliteStore(file);
    s.sqlite.exec("CREATE TABLE blobs (b BLOB)");
    s.checkpointOffThread();
    expect(s.checkpointsOffThread).toBe(false);
    s.write(() => s.sqlite.exec("INSERT INTO blobs (b) VALUES (x'00')")); // starts the thread
    expect(await until(() => s.checkpointsOffThread, 10_000)).toBe(true);
    expect(autoPages(s.sqlite)).toBe(0);

    s.write(() => s.sqlite.exec("INSERT INTO blobs (b) VALUES (x'01')")); // asks; the next ask waits a second
    expect(await until(() => statSync(file).size > 0, 5_000)).toBe(true);
    await Bun.sleep(200); // that small checkpoint done; writes within the second after an ask do not ask again
    const before = statSync(file).size;
    writeMegabytes(s);
    // The commit did not checkpoint: the megabytes are in the log only.
    expect(statSync(file).size).toBeLessThan(before + 1_000_000);
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(8_000_000);

    await Bun.sleep(1_100);
    s.write(() => s.sqlite.exec("INSERT INTO blobs (b) VALUES (x'02')")); // asks the thread
    expect(await until(() => statSync(file).size > 8_000_000, 10_000)).toBe(true);
    s.close();
    const reopened = new Database(file);
    expect((reopened.query("SELECT count(*) AS n FROM blobs").get() as { n: number }).n).toBe(2_003);
    reopened.close();
  });

  test("without the thread (never enabled), a large commit checkpoints as SQLite always does", () => {
    const file = join(dir, "on.db");
    const s = new SqliteStore(file);
    s.sqlite.exec("CREATE TABLE blobs (b BLOB)");
    writeMegabytes(s);
    expect(autoPages(s.sqlite)).toBe(1_000);
    expect(statSync(file).size).toBeGreaterThan(8_000_000);
    s.close();
  });

  test("a thread that cannot open the database hands checkpoints back to the connection", async () => {
    const db = new Database(join(dir, "fallback.db"));
    db.exec("PRAGMA journal_mode = WAL");
    const c = new WalCheckpointer(db, join(dir, "missing", "nothing.db"));
    const errors: string[] = [];
    const original = console.error;
    console.error = (m: string) => void errors.push(m);
    try {
      c.enable();
      c.wrote();
      db.exec("PRAGMA wal_autocheckpoint = 0"); // as if it had been off: the fallback turns it back on
      expect(await until(() => errors.length > 0, 10_000)).toBe(true);
    } finally {
      console.error = original;
    }
    expect(errors[0]).toContain("WAL checkpoints run on the event loop again");
    expect(c.running).toBe(false);
    expect(autoPages(db)).toBe(1_000);
    c.wrote(); // no second thread
    c.close();
    db.close();
  });

  test("a connection closed while its thread starts: the thread's late reply is ignored", async () => {
    const file = join(dir, "closed.db");
    const db = new Database(file, { create: true });
    db.exec("PRAGMA journal_mode = WAL");
    const c = new WalCheckpointer(db, file);
    c.enable();
    c.wrote();
    db.close(); // as a test (or a crash path) may, without closing the checkpointer first
    await Bun.sleep(1_000);
    expect(c.running).toBe(false);
  });

  test("writes that never pause long: the log still starts over past its bound", async () => {
    const file = join(dir, "busy.db");
    const s = await boundedStore(file);
    const insert = s.sqlite.prepare("INSERT INTO blobs (b) VALUES (randomblob(4000))");
    const wal = () => statSync(`${file}-wal`).size;
    let largest = 0;
    // About 5 s of commits of 40 KB every 2 ms (20 MB/s, twice a saturated gateway's write-behind):
    // a passive checkpoint never catches up, and without the bound the log grows by all of it.
    const end = performance.now() + 5_000;
    while (performance.now() < end) {
      s.write(() => {
        for (let i = 0; i < 10; i++) insert.run();
      });
      largest = Math.max(largest, wal());
      await Bun.sleep(2);
    }
    // The bound (4 MiB) and what the writes add while a checkpoint runs, far below the ~100 MB written.
    expect(largest).toBeLessThan(40 * 1024 * 1024);
    s.close();
    const reopened = new Database(file);
    expect((reopened.query("SELECT count(*) AS n FROM blobs").get() as { n: number }).n).toBeGreaterThan(1_000);
    reopened.close();
  }, 30_000);

  test("past the bound with a reader holding an old snapshot (a backup): writes wait 50 ms at most, never the busy timeout", async () => {
    const file = join(dir, "reader.db");
    const s = await boundedStore(file);
    const reader = new Database(file);
    reader.exec("BEGIN");
    reader.query("SELECT count(*) FROM blobs").get();
    const insert = s.sqlite.prepare("INSERT INTO blobs (b) VALUES (randomblob(4000))");
    let slowest = 0;
    const end = performance.now() + 3_500;
    while (performance.now() < end) {
      const t0 = performance.now();
      s.write(() => {
        for (let i = 0; i < 10; i++) insert.run();
      });
      slowest = Math.max(slowest, performance.now() - t0);
      await Bun.sleep(2);
    }
    reader.exec("COMMIT");
    reader.close();
    s.close();
    expect(slowest).toBeLessThan(1_000);
  }, 30_000);
});
