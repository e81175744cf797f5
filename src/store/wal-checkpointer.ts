import type { Database } from "bun:sqlite";

export type CheckpointMessage = { t: "open"; path: string; done: SharedArrayBuffer; restartPages: number } | { t: "checkpoint" } | { t: "close" };
type Reply = { t: "ready" } | { t: "failed"; message: string };

/** A write asks for a checkpoint at most this often: each copies about this long of writes. */
const ASK_MS = 1_000;
/** SQLite's default auto-checkpoint, restored if the thread fails. */
const AUTO_PAGES = 1_000;
/** The log's bound under writes that never pause (checkpoint-worker.ts): 256 MiB of 4 KiB pages. */
export const RESTART_PAGES = 65_536;
const CLOSE_WAIT_MS = 2_000;
const CHECKPOINT: CheckpointMessage = { t: "checkpoint" };
/**
 * The thread's code: beside this file when run from source; in the binary, where `bun build`
 * embeds its second entrypoint (package.json's build script), named relative to src/.
 */
const WORKER_URL = import.meta.url.startsWith("file:///$bunfs/")
  ? "/$bunfs/root/store/checkpoint-worker.ts"
  : new URL("./checkpoint-worker.ts", import.meta.url).href;

/**
 * Moves SQLite's WAL checkpoints off the event loop. By default the connection that commits also
 * checkpoints, inside that commit, once the log passes 1,000 pages: the database file is written
 * and fsynced while every request waits (10–20 ms after a burst of load). Here the first write
 * after `enable()` starts a thread with its own connection (checkpoint-worker.ts); once it is up,
 * this connection stops checkpointing and writes ask the thread instead. The thread is started
 * only then, so an idle gateway does not carry its heap. If it cannot start or fails, this
 * connection checkpoints again by itself: the log never grows without bound.
 */
export class WalCheckpointer {
  private worker: Worker | null = null;
  private state: "off" | "enabled" | "starting" | "on" | "failed" = "off";
  private askedAt = Number.NEGATIVE_INFINITY;
  /** Set to 1 by the thread once its connection is closed (close() waits on it). */
  private readonly done = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    private readonly sqlite: Database,
    private readonly path: string,
    private readonly restartPages = RESTART_PAGES,
  ) {}

  /** From now on a write starts the thread (called once start-up's own writes are done). */
  enable(): void {
    if (this.state === "off") this.state = "enabled";
  }

  /** After a commit: starts the thread the first time; once it is up, asks it for a checkpoint. */
  wrote(): void {
    if (this.state === "on") {
      const now = performance.now();
      if (now - this.askedAt < ASK_MS) return;
      this.askedAt = now;
      this.worker!.postMessage(CHECKPOINT);
    } else if (this.state === "enabled") this.start();
  }

  /** Whether the thread does the checkpoints now. */
  get running(): boolean {
    return this.state === "on";
  }

  /** Closes the thread's connection (waiting up to 2 s for it), then ends the thread. */
  close(): void {
    const w = this.worker;
    this.worker = null;
    this.state = "off";
    if (!w) return;
    w.postMessage({ t: "close" } satisfies CheckpointMessage);
    Atomics.wait(this.done, 0, 0, CLOSE_WAIT_MS);
    w.terminate();
  }

  private start(): void {
    this.state = "starting";
    // A thread started again after close() (enable() once more) must be waited for too.
    Atomics.store(this.done, 0, 0);
    try {
      const w = new Worker(WORKER_URL);
      // Bun's Worker has unref() (the DOM typings do not know it): the thread never keeps the process alive.
      (w as unknown as { unref(): void }).unref();
      w.onmessage = (e: MessageEvent<Reply>) => this.reply(e.data);
      w.onerror = (e) => this.fail(e.message);
      w.postMessage({ t: "open", path: this.path, done: this.done.buffer as SharedArrayBuffer, restartPages: this.restartPages } satisfies CheckpointMessage);
      this.worker = w;
    } catch (e) {
      this.fail(String(e));
    }
  }

  private reply(r: Reply): void {
    if (r.t === "failed") return this.fail(r.message);
    if (this.state !== "starting") return;
    if (!this.setAutoCheckpoint(0)) return this.close();
    this.state = "on";
  }

  private fail(message: string): void {
    if (this.state === "off" || this.state === "failed") return;
    this.state = "failed";
    this.worker?.terminate();
    this.worker = null;
    // A connection closed meanwhile has nothing left to checkpoint: nothing to say either.
    if (this.setAutoCheckpoint(AUTO_PAGES)) console.error(`WAL checkpoints run on the event loop again: their thread failed (${message})`);
  }

  /** False when the connection has been closed (the thread's messages may arrive after that). */
  private setAutoCheckpoint(pages: number): boolean {
    try {
      this.sqlite.exec(`PRAGMA wal_autocheckpoint = ${pages}`);
      return true;
    } catch {
      return false;
    }
  }
}
