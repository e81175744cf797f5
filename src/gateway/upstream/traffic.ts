import { errors } from "../../lib/errors";

/** One proxied request in flight, from admission until its response (stream included) has ended. */
export interface Lease {
  /** Ends the lease; idempotent. `unsent`: bytes of a whole answer not yet written to the client. */
  release(unsent?: number): void;
  /** How to end this request at once when the shutdown grace is over (replaces the previous one). */
  onTerminate(fn: () => void): void;
  /** Runs `fn` once when the lease ends (a stream is done, or a whole answer is ready to write: `unsent` bytes). */
  onRelease(fn: (unsent: number) => void): void;
}

/** A lease is its own entry in the set (one object per request: no closures on this path). */
class Entry implements Lease {
  terminate: (() => void) | null = null;
  private released = false;
  private ended: ((unsent: number) => void) | null = null;

  constructor(private readonly traffic: Traffic) {}

  release(unsent = 0): void {
    if (this.released) return;
    this.released = true;
    // Dropped before the delete: a Set keeps a deleted entry reachable for the young-generation
    // collector until the next full collection, and the callback holds the whole request.
    this.terminate = null;
    this.traffic.leave(this);
    const ended = this.ended;
    this.ended = null;
    ended?.(unsent);
  }

  onTerminate(fn: () => void): void {
    if (!this.released) this.terminate = fn;
  }

  onRelease(fn: (unsent: number) => void): void {
    if (this.released) fn(0);
    else this.ended = fn;
  }
}

/**
 * Requests in flight across the gateway: the global cap on concurrent upstream requests, and
 * the drain at shutdown (refuse new ones, let the running ones finish, then end the rest).
 */
export class Traffic {
  private readonly active = new Set<Entry>();
  private idle: (() => void)[] = [];
  private draining = false;

  constructor(private readonly max: number) {}

  get inFlight(): number {
    return this.active.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  get limit(): number {
    return this.max;
  }

  /** Admits one request, or throws 503 with retry-after when the gateway is full or stopping. */
  enter(): Lease {
    if (this.draining) {
      throw errors.upstream(503, "The gateway is restarting. Please retry in a moment.", "server_shutting_down", { "retry-after": "1" });
    }
    if (this.active.size >= this.max) {
      throw errors.upstream(503, "The gateway is at its limit of concurrent requests. Please retry shortly.", "server_busy", { "retry-after": "1" });
    }
    const entry = new Entry(this);
    this.active.add(entry);
    return entry;
  }

  /** A lease's end (Entry.release, once per lease). */
  leave(entry: Entry): void {
    this.active.delete(entry);
    if (this.active.size === 0) for (const f of this.idle.splice(0)) f();
  }

  /** Resolves when nothing is in flight or after `ms`; true when idle. */
  whenIdle(ms: number): Promise<boolean> {
    if (this.active.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle: boolean) => {
        clearTimeout(timer);
        this.idle = this.idle.filter((f) => f !== onIdle);
        resolve(idle);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(this.active.size === 0), ms);
      this.idle.push(onIdle);
    });
  }

  /**
   * Refuses new requests, waits up to `graceMs` for the running ones, then ends the rest
   * (streams get an error event, holds are settled or released) and waits for them to finish.
   */
  async drain(graceMs: number): Promise<{ finished: boolean; terminated: number }> {
    this.draining = true;
    if (await this.whenIdle(graceMs)) return { finished: true, terminated: 0 };
    const rest = [...this.active];
    for (const e of rest) {
      try {
        e.terminate?.();
      } catch (err) {
        console.error("ending a request at shutdown failed:", err);
      }
    }
    // Ending writes the charge; give it a moment to commit before the database closes.
    const finished = await this.whenIdle(5_000);
    return { finished, terminated: rest.length };
  }
}
