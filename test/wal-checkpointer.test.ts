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
});
