import type { SqliteStore } from "../../store/sqlite-store";

/** The part of a usage filter that selects rows by account and time (the indexed columns). */
export interface SliceFilter {
  accountId?: string;
  /** Milliseconds, inclusive. */
  from?: number;
  /** Milliseconds, exclusive. */
  to?: number;
}

/**
 * Rows per slice of a large usage read: aggregating or formatting this many rows takes a few
 * milliseconds, so no request holds the event loop for long however many rows it reads.
 */
export const SLICE_ROWS = 4096;

/** Lets timers and other requests run between two slices of a large read. */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Splits the usage rows of `f` into time ranges of about `rows` rows each, newest first, and calls
 * `visit` with each range (a filter narrowed to it), yielding to the event loop in between. The
 * edges come from the (account, time) or (time) index alone, so finding one costs `rows` index
 * steps. A range holds every row of its oldest millisecond, so no row is visited twice or missed.
 * `visit` may return false to stop early (a page that is already full).
 */
export async function forEachSlice<F extends SliceFilter>(store: SqliteStore, f: F, visit: (slice: F) => void | boolean, rows = SLICE_ROWS): Promise<void> {
  const account = f.accountId ? "account_id = ? AND " : "";
  const edgeQuery = store.prepared(
    `SELECT created_at FROM usage_log WHERE ${account}created_at < ? AND created_at >= ? ORDER BY created_at DESC LIMIT 1 OFFSET ?`,
  );
  const lowest = f.from ?? Number.MIN_SAFE_INTEGER;
  let upper = f.to ?? Number.MAX_SAFE_INTEGER;
  for (;;) {
    const args = [...(f.accountId ? [f.accountId] : []), upper, lowest, rows - 1];
    const edge = (edgeQuery.get(...args) as { created_at: number } | null)?.created_at;
    const more = visit({ ...f, from: edge ?? f.from, to: upper === Number.MAX_SAFE_INTEGER ? f.to : upper });
    if (edge === undefined || more === false) return;
    upper = edge;
    await yieldToLoop();
  }
}
