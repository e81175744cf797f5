import { count, lt, sql } from "drizzle-orm";
import type { usageDaily } from "../../store/schema";
import type { Store } from "../../store/store";
import { all, run, type Q, type Work } from "../../store/work";
import { chunks, DAY_MS, dayNumber, isoDay, total } from "./query";

const BUDGET_DAYS_KEPT = 40;

/**
 * Retention: raw rows older than `retentionDays` become daily totals (added to usage_daily) and
 * are deleted, in one transaction, so the table stays bounded and history keeps its totals; budget
 * spend days no current period can reach are deleted with them. Returns how many rows it moved.
 *
 * Safe when several gateway processes run it at once against one PostgreSQL database: the rows
 * moved are the rows deleted in the same (serializable) transaction, so a second run either
 * conflicts and is run again, finding nothing left, or finds nothing left to begin with.
 */
export function rollUpUsage(store: Store, retentionDays: number, now = Date.now()): Promise<number> {
  // Cut at a UTC day boundary so that a day is never split between raw rows and its rollup.
  const cutoff = Math.floor((now - retentionDays * DAY_MS) / DAY_MS) * DAY_MS;
  return store.tx((q) => rollUp(q, cutoff, now));
}

function* rollUp(q: Q, cutoff: number, now: number): Work<number> {
  const t = q.t.usageLog;
  const day = dayNumber(t);
  const groups = yield* all(
    q.db
      .select({
        day, accountId: t.accountId, model: t.model, requests: count(), promptTokens: total(t.promptTokens),
        cachedTokens: total(t.cachedTokens), completionTokens: total(t.completionTokens), reasoningTokens: total(t.reasoningTokens),
        costMicros: total(t.costMicros),
      })
      .from(t)
      .where(lt(t.createdAt, cutoff))
      .groupBy(day, t.accountId, t.model),
  );
  for (const batch of chunks(groups)) yield* addToRollups(q, batch.map((g) => ({ ...g, day: isoDay(g.day * DAY_MS) })));
  // Budget days: the longest period (a month, or a week that began in the month before) is under 40 days.
  yield* run(q.db.delete(q.t.budgetSpend).where(lt(q.t.budgetSpend.day, now - BUDGET_DAYS_KEPT * DAY_MS)));
  return (yield* run(q.db.delete(t).where(lt(t.createdAt, cutoff)))).changes;
}

type Rollup = typeof usageDaily.$inferInsert;

/** Adds daily totals to usage_daily: a new row per (day, account, model), or added to the one there. */
function* addToRollups(q: Q, rows: Rollup[]): Work<void> {
  const d = q.t.usageDaily;
  const plus = (col: keyof typeof SUMMED) => sql.raw(`usage_daily.${SUMMED[col]} + excluded.${SUMMED[col]}`);
  yield* run(
    q.db
      .insert(d)
      .values(rows)
      .onConflictDoUpdate({
        target: [d.day, d.accountId, d.model],
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
