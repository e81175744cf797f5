/**
 * Micro benchmark of settlement: one at a time (SQLite commit vs journal), then by batch size.
 * Method and figures: docs/benchmarks.md and BENCHMARKS.md.
 * Usage: bun bench/settle-bench.ts [db path]
 */
import { rmSync, statSync } from "node:fs";
import { SqliteStore } from "../src/store/sqlite-store";
import { newSortableId } from "../src/lib/ids";
import { SettleJournal, type SettleRecord } from "../src/money/settle-journal";
import { SettleWriter } from "../src/money/settle-writer";
import { SqliteCreditStore } from "../src/money/sqlite-credit-store";

const path = process.argv[2] ?? `/tmp/settle-bench-${process.pid}.db`;
const clean = () => ["", "-wal", "-shm", "-settlements"].forEach((s) => rmSync(path + s, { force: true }));
const fresh = (): SqliteStore => {
  clean();
  const db = new SqliteStore(path);
  db.migrate();
  db.sqlite.query("INSERT INTO accounts (id, name, balance_micros, created_at) VALUES ('acc_1','a',1000000000000,0)").run();
  db.sqlite.query("INSERT INTO api_keys (id, account_id, hash, prefix, last4, created_at) VALUES ('key_1','acc_1','h','sk','abcd',0)").run();
  return db;
};
const usage = (id: string) => ({
  requestId: id, accountId: "acc_1", keyId: "key_1", model: "bench-model", stream: false, status: 200, promptTokens: 12,
  cachedTokens: 0, completionTokens: 20, reasoningTokens: 0, costMicros: 640, estimated: false, latencyMs: 1, ttftMs: null,
  upstreamRequestId: "up_123", errorCode: null, createdAt: Date.now(),
});
for (const [ckpt, journaled] of [[1000, false], [100000, false], [1000, true]] as const) {
  const db = fresh();
  db.sqlite.exec(`PRAGMA wal_autocheckpoint = ${ckpt}`);
  const journal = journaled ? SettleJournal.open(path + "-settlements") : undefined;
  const store = new SqliteCreditStore(db, { holdTtlMs: 60000, journal, applyMs: 100 });
  const one = async () => {
    const id = newSortableId("req");
    store.reserve({ accountId: "acc_1", keyId: "key_1", requestId: id, amount: 1000 });
    await store.settle(id, 640, { note: "bench-model", usage: usage(id) });
  };
  for (let i = 0; i < 3000; i++) await one();
  const lat: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < 10000; i++) {
    const t = performance.now();
    await one();
    lat.push(performance.now() - t);
  }
  const cu = process.cpuUsage(c0);
  lat.sort((a, b) => a - b);
  let frames = "";
  if (ckpt === 100000 && !journaled) {
    // Pages written per commit: WAL growth over 1,000 settlements from an empty WAL.
    db.sqlite.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    for (let i = 0; i < 1000; i++) await one();
    frames = ` wal frames/commit ${((statSync(path + "-wal").size - 32) / 4120 / 1000).toFixed(2)}`;
  }
  console.log(
    journaled ? "journal, batched;" : "SQLite commit each;", "autocheckpoint", ckpt, "p50 µs", (lat[5000]! * 1000).toFixed(1), "p99", (lat[9900]! * 1000).toFixed(1),
    "cpu/op", ((cu.user + cu.system) / 10000).toFixed(1) + frames,
  );
  await store.flush();
  journal?.close();
  db.sqlite.close();
}

// The write-behind's transactions: larger ones cost less per settlement and hold the loop longer
// (the gateway writes up to 128 per transaction, src/money/settle-sink.ts).
const record = (): SettleRecord => {
  const id = newSortableId("req");
  return { t: "settle", requestId: id, accountId: "acc_1", keyId: "key_1", amount: 1000, charge: 640, persisted: false, at: Date.now(), extras: { note: "bench-model", usage: usage(id) } };
};
for (const size of [32, 128, 512]) {
  const db = fresh();
  const writer = new SettleWriter(db);
  for (let i = 0; i < 20; i++) writer.commit(Array.from({ length: size }, record));
  const batches = Array.from({ length: Math.ceil(20_000 / size) }, () => Array.from({ length: size }, record));
  const took: number[] = [];
  const c0 = process.cpuUsage();
  for (const b of batches) {
    const t = performance.now();
    writer.commit(b);
    took.push(performance.now() - t);
  }
  const cu = process.cpuUsage(c0);
  took.sort((a, b) => a - b);
  const n = batches.length * size;
  console.log(
    `write-behind transactions of ${size}: cpu/settlement ${((cu.user + cu.system) / n).toFixed(1)} µs,`,
    `commit p50 ${(took[took.length >> 1]! * 1000).toFixed(0)} µs, p99 ${(took[Math.floor(took.length * 0.99)]! * 1000).toFixed(0)} µs`,
  );
  db.sqlite.close();
}
clean();
