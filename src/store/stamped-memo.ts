import type { SqliteStore } from "./sqlite-store";

/**
 * Rows read on the request path, kept while the database's change stamp is unchanged (see
 * ChangeWatch): a write here is seen at once, a commit by another process from the next turn.
 */
export class StampedMemo<T> {
  private stamp = -1;
  private rows = new Map<string, T>();

  constructor(
    private readonly store: SqliteStore,
    private readonly load: (id: string) => T,
    private readonly opts: { limit?: number; keep?: (row: T) => boolean } = {},
  ) {}

  get(id: string): T {
    const stamp = this.store.changeStamp();
    if (stamp !== this.stamp) {
      this.stamp = stamp;
      this.rows.clear();
    }
    const hit = this.rows.get(id);
    if (hit !== undefined) return hit;
    const row = this.load(id);
    if (this.opts.keep?.(row) ?? true) {
      // Bounded: a flood of distinct ids only costs a re-read.
      if (this.rows.size >= (this.opts.limit ?? 10_000)) this.rows.clear();
      this.rows.set(id, row);
    }
    return row;
  }

  /**
   * The row kept for `id` under the stamp as last taken (no query: a commit elsewhere is seen from
   * the next check anyone makes), else read under the current one. For paths that run in turns
   * where nothing else reads the database: a check there costs a read transaction of its own.
   */
  recent(id: string): T {
    if (this.stamp === this.store.changeStamp(true)) {
      const hit = this.rows.get(id);
      if (hit !== undefined) return hit;
    }
    return this.get(id);
  }

  /** The row kept for `id` under the current stamp, if any (its owner updates it after an absorbed write). */
  peek(id: string): T | undefined {
    return this.stamp === this.store.changeStamp() ? this.rows.get(id) : undefined;
  }
}
