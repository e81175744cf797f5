/**
 * The WAL checkpointer's thread (wal-checkpointer.ts): its own connection to the database, which
 * copies the write-ahead log back into the database file when asked. A checkpoint writes and
 * fsyncs that file (10–20 ms after a burst of load), so it runs here, never on the event loop.
 */
import { Database } from "bun:sqlite";
import type { CheckpointMessage } from "./wal-checkpointer";

declare const self: Worker;

let db: Database | null = null;
let done: Int32Array | null = null;
let restartPages = Number.POSITIVE_INFINITY;
/** As long as the gateway's own connection waits for a lock. */
const BUSY_MS = 5_000;
/** How long a forced restart of the log may hold the writer back waiting for readers. */
const RESTART_WAIT_MS = 50;

self.onmessage = (e: MessageEvent<CheckpointMessage>) => {
  const m = e.data;
  if (m.t === "open") {
    done = new Int32Array(m.done);
    restartPages = m.restartPages;
    try {
      db = new Database(m.path, { readwrite: true, create: false });
      db.exec(`PRAGMA busy_timeout = ${BUSY_MS}`);
      postMessage({ t: "ready" });
    } catch (err) {
      postMessage({ t: "failed", message: String(err) });
      db = null;
    }
  } else if (m.t === "checkpoint") {
    // PASSIVE: copies what no reader still needs, never waits for or blocks the writer.
    let log = 0;
    try {
      log = (db?.query("PRAGMA wal_checkpoint(PASSIVE)").get() as { log: number } | null)?.log ?? 0;
    } catch (err) {
      postMessage({ t: "failed", message: String(err) });
    }
    // Writes that never pause keep a passive checkpoint one step behind, so the log never starts
    // over and grows for as long as the load lasts. Past the bound, RESTART takes the write lock
    // (the writer waits for the few frames written since the passive one) and makes the next write
    // start the log over. It holds that lock while it waits for readers (a backup's snapshot), so
    // it waits 50 ms at most, then gives up until the next ask.
    if (log > restartPages && db) {
      db.exec(`PRAGMA busy_timeout = ${RESTART_WAIT_MS}`);
      try {
        db.exec("PRAGMA wal_checkpoint(RESTART)");
      } catch {
        // busy: tried again at the next ask
      } finally {
        db.exec(`PRAGMA busy_timeout = ${BUSY_MS}`);
      }
    }
  } else {
    db?.close();
    db = null;
    if (done) {
      Atomics.store(done, 0, 1);
      Atomics.notify(done, 0);
    }
  }
};
