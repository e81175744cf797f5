/**
 * Work under way in this process, per key (memory only: a restart starts with none): a cap on
 * how many runs of one key may be under way at once, and one shared run per key.
 */

/** At most `limit` runs per key at once; a run past it is refused (nothing of it runs). */
export class InFlightCap<K> {
  private readonly counts = new Map<K, number>();

  constructor(readonly limit: number) {}

  /** Runs under way for `key`. */
  count(key: K): number {
    return this.counts.get(key) ?? 0;
  }

  /** Runs `fn` when `key` has fewer than `limit` runs under way, counted until it settles; else throws `refused()`. */
  async run<T>(key: K, fn: () => Promise<T>, refused: () => Error): Promise<T> {
    const done = this.take(key, refused);
    try {
      return await fn();
    } finally {
      done();
    }
  }

  /** Counts one run of `key` until the function returned is called (once counts); throws `refused()` past the limit. */
  take(key: K, refused: () => Error): () => void {
    const n = this.count(key);
    if (n >= this.limit) throw refused();
    this.counts.set(key, n + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = this.count(key) - 1;
      if (left > 0) this.counts.set(key, left);
      else this.counts.delete(key);
    };
  }
}

/** One run per key at once: whoever asks while a run of the key is under way gets its outcome. */
export class SingleFlight<K, V> {
  private readonly running = new Map<K, Promise<V>>();

  /** Runs under way (keys). */
  get size(): number {
    return this.running.size;
  }

  /** The run of `key` under way, if any. */
  get(key: K): Promise<V> | undefined {
    return this.running.get(key);
  }

  run(key: K, fn: () => Promise<V>): Promise<V> {
    const running = this.running.get(key);
    if (running) return running;
    const p = Promise.resolve()
      .then(fn)
      .finally(() => this.running.delete(key));
    this.running.set(key, p);
    return p;
  }
}
