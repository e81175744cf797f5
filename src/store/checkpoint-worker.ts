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

self.onmessage = (e: MessageEvent<CheckpointMessage>) => {
  const m = e.data;
  if (m.t === "open") {
    done = new Int32Array(m.done);
    try {
      db = new Database(m.path, { readwrite: true, create: false });
      db.exec("PRAGMA busy_timeout = 5000");
      postMessage({ t: "ready" });
    } catch (err) {
      postMessage({ t: "failed", message: String(err) });
      db = null;
    }
  } else if (m.t === "checkpoint") {
    // PASSIVE: copies what no reader still needs, never waits for or blocks the writer.
    try {
      db?.exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (err) {
      postMessage({ t: "failed", message: String(err) });
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
