import { and, asc, count, gte, lt, sql, type SQL } from "drizzle-orm";
import type { usageDaily } from "../../store/schema";
import type { Store } from "../../store/store";
import { all, get, rows, run, type Q, type Work } from "../../store/work";
import { chunks, DAY_MS, dayNumber, isoDay, total } from "./query";
import { yieldToLoop } from "./slices";

const BUDGET_DAYS_KEPT = 40;

/**
 * Raw rows moved per transaction: a slice this size is summed, added and deleted in a few
 * milliseconds, so requests never wait long behind the roll-up however large a day is.
 */
export const ROLLUP_SLICE_ROWS = 1024;

/**
 * Retention: raw rows older than `retentionDays` become daily totals (added to usage_daily) and
 * are deleted, oldest first, in slices of at most `sliceRows` rows (every row of one millisecond
 * when more than that share it), each slice one transaction that sums, adds and deletes the same
 * rows, with the event loop free between slices. A row is thus counted once even if the process
 * stops between slices: the rest waits for the next run. Budget spend days no current period can
 * reach are deleted too. Returns how many rows it moved.
 *
 * Safe when several gateway processes run it at once against one PostgreSQL database: each slice
 * is a serializable transaction, so two that picked the same rows conflict and the later one runs
 * again, finding them gone. A slice first tries the roll-up's lock: a run that finds another
 * instance's slice in progress stops there and leaves the rest to it.
 */
export async function rollUpUsage(store: Store, retentionDays: number, now = Date.now(), sliceRows = ROLLUP_SLICE_ROWS): Promise<number> {
  // Cut at a UTC day boundary so that, once a run ends, no day is split between raw rows and its rollup.
  const cutoff = Math.floor((now - retentionDays * DAY_MS) / DAY_MS) * DAY_MS;
  await store.tx((q) => pruneBudgetDays(q, now));
  let moved = 0;
  // Rows below a slice's end are gone: the next slice's search starts there, not over them.
  let from: number | undefined;
  for (;;) {
    const slice = await store.tx((q) => rollUpSlice(q, from, cutoff, Math.max(1, Math.floor(sliceRows))));
    if (!slice) return moved;
    moved += slice.moved;
    if (slice.end >= cutoff) return moved;
    from = slice.end;
    await yieldToLoop();
  }
}

/** Budget days: the longest period (a month, or a week that began in the month before) is under 40 days. */
function* pruneBudgetDays(q: Q, now: number): Work<void> {
  yield* run(q.db.delete(q.t.budgetSpend).where(lt(q.t.budgetSpend.day, now - BUDGET_DAYS_KEPT * DAY_MS)));
}

/**
 * One slice: the rows in [from, end) become daily totals and are deleted, in the caller's
 * transaction. Null when another PostgreSQL instance holds the roll-up's lock.
 */
function* rollUpSlice(q: Q, from: number | undefined, cutoff: number, sliceRows: number): Work<{ moved: number; end: number } | null> {
  if (q.dialect === "postgres") {
    // Tried, not awaited: a wait would begin this snapshot before the holder's commit, and conflict every time.
    const [lock] = yield* rows<{ ok: boolean }>(sql`SELECT pg_try_advisory_xact_lock(hashtextextended('tollgate:usage-rollup', 0)) AS ok`);
    if (!lock?.ok) return null;
  }
  const end = yield* sliceEnd(q, from, cutoff, sliceRows);
  const t = q.t.usageLog;
  const where = and(from === undefined ? undefined : gte(t.createdAt, from), lt(t.createdAt, end));
  yield* addRowsToRollups(q, where);
  return { moved: (yield* run(q.db.delete(t).where(where))).changes, end };
}

/**
 * Where a slice starting at `from` ends: the time of the next row after `sliceRows` rows (so the
 * slice holds at most that many), one millisecond past the first row's when they all share it,
 * or the cutoff when fewer rows are left. Found from the (time) index alone.
 */
function* sliceEnd(q: Q, from: number | undefined, cutoff: number, sliceRows: number): Work<number> {
  const t = q.t.usageLog;
  const below = and(from === undefined ? undefined : gte(t.createdAt, from), lt(t.createdAt, cutoff));
  const at = (offset: number) => get(q.db.select({ at: t.createdAt }).from(t).where(below).orderBy(asc(t.createdAt)).limit(1).offset(offset));
  const next = yield* at(sliceRows);
  if (!next) return cutoff;
  const first = yield* at(0);
  return first && first.at === next.at ? next.at + 1 : next.at;
}

/** Sums the rows of `where` per day, account, key and model and adds the sums to usage_daily. */
function* addRowsToRollups(q: Q, where: SQL | undefined): Work<void> {
  const t = q.t.usageLog;
  const day = dayNumber(t);
  const groups = yield* all(
    q.db
      .select({
        day, accountId: t.accountId, keyId: t.keyId, model: t.model, requests: count(), promptTokens: total(t.promptTokens),
        cachedTokens: total(t.cachedTokens), completionTokens: total(t.completionTokens), reasoningTokens: total(t.reasoningTokens),
        costMicros: total(t.costMicros),
      })
      .from(t)
      .where(where)
      .groupBy(day, t.accountId, t.keyId, t.model),
  );
  const rollups = groups.map((g) => ({ ...g, day: isoDay(g.day * DAY_MS) }));
  // Each kind has its own unique index (nulls are distinct in one), so its own conflict target.
  for (const batch of chunks(rollups.filter((r) => r.keyId !== null))) yield* addToRollups(q, batch, true);
  for (const batch of chunks(rollups.filter((r) => r.keyId === null))) yield* addToRollups(q, batch, false);
}

type Rollup = typeof usageDaily.$inferInsert;

/**
 * Adds daily totals to usage_daily: a new row per (day, account, key, model), or added to the one
 * there. `keyed`: every row names a key (usage_daily_by_key), else none does (usage_daily_key).
 */
function* addToRollups(q: Q, rows: Rollup[], keyed: boolean): Work<void> {
  const d = q.t.usageDaily;
  const plus = (col: keyof typeof SUMMED) => sql.raw(`usage_daily.${SUMMED[col]} + excluded.${SUMMED[col]}`);
  yield* run(
    q.db
      .insert(d)
      .values(rows)
      .onConflictDoUpdate({
        // The partial indexes' columns and conditions exactly, as both databases require to pick one.
        target: keyed ? [d.day, d.accountId, d.keyId, d.model] : [d.day, d.accountId, d.model],
        targetWhere: keyed ? sql`key_id is not null` : sql`key_id is null`,
        set: {
          requests: plus("requests"), promptTokens: plus("promptTokens"), cachedTokens: plus("cachedTokens"),
          completionTokens: plus("completionTokens"), reasoningTokens: plus("reasoningTokens"), costMicros: plus("costMicros"),
        },
      }),
  );
}

const SUMMED = {
  requests: "requests", promptTokens: "prompt_tokens", cachedTokens: "cached_tokens",
  completionTokens: "completion_tokens", reasoningTokens: "reasoning_tokens", costMicros: "cost_micros",
} as const;
