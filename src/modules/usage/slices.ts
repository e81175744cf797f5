import { and, desc, eq, gte, lt } from "drizzle-orm";
import type { Store } from "../../store/store";
import { get, type Q, type Work } from "../../store/work";

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
 * Splits the usage rows of `f` into time ranges of about `rows` rows each, newest first, and runs
 * `visit` on each range (a filter narrowed to it), yielding to the event loop in between. Each
 * slice is one read of its own (no transaction stays open across slices). The edges come from
 * the (account, time) or (time) index alone, so finding one costs `rows` index steps. A range
 * holds every row of its oldest millisecond, so no row is visited twice or missed. `visit` may
 * return false to stop early (a page that is already full).
 */
export async function forEachSlice<F extends SliceFilter>(
  store: Store,
  f: F,
  visit: (q: Q, slice: F) => Work<void | boolean>,
  rows = SLICE_ROWS,
): Promise<void> {
  const lowest = f.from ?? Number.MIN_SAFE_INTEGER;
  let upper = f.to ?? Number.MAX_SAFE_INTEGER;
  for (;;) {
    const to = upper === Number.MAX_SAFE_INTEGER ? f.to : upper;
    const { edge, more } = await store.read(function* (q) {
      const edge = yield* sliceEdge(q, f.accountId, lowest, upper, rows);
      const more = yield* visit(q, { ...f, from: edge ?? f.from, to });
      return { edge, more };
    });
    if (edge === undefined || more === false) return;
    upper = edge;
    await yieldToLoop();
  }
}

/** The time of the `rows`-th newest row below `upper` (undefined: fewer rows are left). */
function* sliceEdge(q: Q, accountId: string | undefined, lowest: number, upper: number, rows: number): Work<number | undefined> {
  const t = q.t.usageLog;
  const where = and(accountId ? eq(t.accountId, accountId) : undefined, lt(t.createdAt, upper), gte(t.createdAt, lowest));
  const row = yield* get(q.db.select({ at: t.createdAt }).from(t).where(where).orderBy(desc(t.createdAt)).limit(1).offset(rows - 1));
  return row?.at;
}
