import { eq, sql } from "drizzle-orm";
import type { SqliteStore } from "../../src/store/sqlite-store";
import { get } from "../../src/store/work";

/** The holds a SQLite gateway has written for other processes to see (hold-rows.ts), summed for an account. */
export function persistedHeld(store: SqliteStore, accountId: string): number {
  return store.readSync(function* (q) {
    const h = q.t.creditHolds;
    const row = yield* get(q.db.select({ held: sql<number>`coalesce(sum(${h.amountMicros}), 0)` }).from(h).where(eq(h.accountId, accountId)));
    return row?.held ?? 0;
  });
}
