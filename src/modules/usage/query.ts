import { and, eq, gte, inArray, lt, sql, type SQL, type SQLWrapper } from "drizzle-orm";
import type { Tables } from "../../store/tables";
import { all, type Q, type Work } from "../../store/work";

/** Query pieces the usage reports share (usage, margins, console), written to run on both stores. */

export const DAY_MS = 86_400_000;

/** The filters a usage read may apply to raw rows. */
export interface RowFilter {
  accountId?: string;
  keyId?: string;
  /** Any of these keys (a rotation line, a member's keys); empty matches nothing. */
  keyIds?: readonly string[];
  model?: string;
  /** Milliseconds, inclusive. */
  from?: number;
  /** Milliseconds, exclusive. */
  to?: number;
}

/** The WHERE of a filter over usage_log (undefined: every row). */
export function rowsWhere(t: Tables["usageLog"], f: RowFilter): SQL | undefined {
  return and(
    f.accountId ? eq(t.accountId, f.accountId) : undefined,
    f.keyId ? eq(t.keyId, f.keyId) : undefined,
    f.keyIds ? (f.keyIds.length ? inArray(t.keyId, [...f.keyIds]) : sql`1 = 0`) : undefined,
    f.model ? eq(t.model, f.model) : undefined,
    f.from !== undefined ? gte(t.createdAt, f.from) : undefined,
    f.to !== undefined ? lt(t.createdAt, f.to) : undefined,
  );
}

/**
 * The WHERE of a filter over usage_daily: its days are whole, so a partial first or last day counts
 * whole. A key filter matches the rollups of those keys; the keyless rollups (rows of no key, and
 * all made before rollups were kept per key) match only a read without one.
 */
export function rollupsWhere(t: Tables["usageDaily"], f: RowFilter): SQL | undefined {
  return and(
    f.accountId ? eq(t.accountId, f.accountId) : undefined,
    f.keyId ? eq(t.keyId, f.keyId) : undefined,
    f.keyIds ? (f.keyIds.length ? inArray(t.keyId, [...f.keyIds]) : sql`1 = 0`) : undefined,
    f.model ? eq(t.model, f.model) : undefined,
    f.from !== undefined ? gte(t.day, dayName(f.from)) : undefined,
    f.to !== undefined ? lt(t.day, dayName(f.to + DAY_MS - 1)) : undefined,
  );
}

/** The last millisecond a YYYY-MM-DD day names: a later time would throw, or sort before every day. */
const LAST_DAY_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** The day of a bound: times before 1970 or after 9999 stand for the first or last day, which compare the same. */
const dayName = (ms: number) => isoDay(Math.min(Math.max(ms, 0), LAST_DAY_MS));

/**
 * The UTC day of a row as a day number (days since the epoch): an integer division on both
 * databases (no date functions, which they do not share); isoDay(n * DAY_MS) names it.
 */
export const dayNumber = (t: Tables["usageLog"]) => sql<number>`${t.createdAt} / 86400000`.mapWith(Number);

export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** An aggregate as a number: PostgreSQL returns count and sum as strings. */
export const num = (s: SQL) => s.mapWith(Number) as SQL<number>;

/** sum(expr) as a number (null over no rows). */
export const total = (e: SQLWrapper) => num(sql`sum(${e})`);

/**
 * A text column compared and ordered byte by byte on both databases: SQLite does so already;
 * PostgreSQL would use the database's collation, which may order mixed-case ids differently.
 */
export const bytewise = (q: Q, col: SQLWrapper): SQL => (q.dialect === "postgres" ? sql`${col} collate "C"` : sql`${col}`);

/** Splits ids for IN lists well below either database's limit on bound parameters. */
export function chunks<T>(list: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** Names of accounts by id. */
export function* accountNames(q: Q, ids: readonly string[]): Work<Map<string, string>> {
  const a = q.t.accounts;
  const out = new Map<string, string>();
  for (const part of chunks(ids)) for (const r of yield* all(q.db.select({ id: a.id, name: a.name }).from(a).where(inArray(a.id, part)))) out.set(r.id, r.name);
  return out;
}

/** Names of API keys by id. */
export function* keyNames(q: Q, ids: readonly string[]): Work<Map<string, string>> {
  const k = q.t.apiKeys;
  const out = new Map<string, string>();
  for (const part of chunks(ids)) for (const r of yield* all(q.db.select({ id: k.id, name: k.name }).from(k).where(inArray(k.id, part)))) out.set(r.id, r.name);
  return out;
}
