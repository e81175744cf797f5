/** Longest an item waits for others to share its commit (only while requests are in flight). */
const GATHER_MS = 1;
const GATHER_IN_FLIGHT = 16;
const MAX_GATHERED = 512;

/**
 * The credit store's group commit: every settlement queued during one event-loop turn commits
 * together. Under load (many requests in flight) more are on their way, so they are gathered for
 * up to GATHER_MS after the previous commit, since one commit costs as much as several
 * settlements. Under light load a settlement commits at once: nothing waits for nothing.
 * `write` commits the items; `done` then answers them (the gathering window starts between).
 */
export class GroupCommit<T, R> {
  private queue: T[] = [];
  private scheduled = false;
  private lastCommitAt = 0;

  constructor(
    private readonly o: {
      inFlight: () => number;
      write: (items: T[]) => R;
      done: (items: T[], written: R) => void;
    },
  ) {}

  /** What waits for the next commit (the caller may re-point it, never add or remove). */
  get queued(): readonly T[] {
    return this.queue;
  }

  push(item: T): void {
    this.queue.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.whenGathered);
    }
  }

  /** Commits what is queued now (possibly nothing: the write may carry other rows along). */
  readonly commit = (): void => {
    this.scheduled = false;
    const items = this.queue;
    this.queue = [];
    const written = this.o.write(items);
    this.lastCommitAt = performance.now();
    this.o.done(items, written);
  };

  private readonly whenGathered = (): void => {
    const since = performance.now() - this.lastCommitAt;
    if (this.o.inFlight() >= GATHER_IN_FLIGHT && this.queue.length < MAX_GATHERED && since < GATHER_MS) {
      // A timer, not another setImmediate: the loop sleeps in epoll instead of spinning meanwhile.
      setTimeout(this.commit, Math.max(0, GATHER_MS - since));
      return;
    }
    this.commit();
  };
}
