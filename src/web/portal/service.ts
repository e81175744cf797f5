import { USAGE_CSV_COLUMNS, usageCsvLine } from "../../modules/usage/csv";
import type { Config } from "../../config/load";
import { and, desc, eq, lt, ne } from "drizzle-orm";
import type { Store } from "../../store/store";
import { all } from "../../store/work";
import { errors } from "../../lib/errors";
import { getKeyRow, type KeyRow } from "../../modules/keys/service";
import type { UsageRowT } from "../../modules/usage/model";
import { dailyUsage, listUsage, totalsOf, type UsageFilter } from "../../modules/usage/service";
import { yieldToLoop } from "../../modules/usage/slices";
import { getAccountPlan } from "../../modules/ratelimit/service";

const DAY_MS = 86_400_000;

export interface DaySeries {
  /** Unix seconds at 00:00 UTC of each day, oldest first. */
  days: number[];
  spend: number[];
  tokens: number[];
  requests: number[];
}

/** Spend (micros), tokens and requests per UTC day for the last `n` days including today. */
export async function dailySeries(store: Store, filter: Omit<UsageFilter, "from" | "to">, now: number, n = 30): Promise<DaySeries> {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const from = today - (n - 1) * DAY_MS;
  const rows = await dailyUsage(store, { ...filter, from, to: today + DAY_MS });
  const index = new Map<string, number>();
  const s: DaySeries = { days: [], spend: [], tokens: [], requests: [] };
  for (let i = 0; i < n; i++) {
    const t = from + i * DAY_MS;
    index.set(new Date(t).toISOString().slice(0, 10), i);
    s.days.push(t / 1000);
    s.spend.push(0);
    s.tokens.push(0);
    s.requests.push(0);
  }
  for (const r of rows) {
    const i = index.get(r.day);
    if (i === undefined) continue;
    s.spend[i]! += r.cost_micros;
    s.tokens[i]! += r.prompt_tokens + r.completion_tokens;
    s.requests[i]! += r.requests;
  }
  return s;
}

/** A key of the signed-in account; another account's key looks exactly like a missing one. */
export async function ownKey(store: Store, accountId: string, keyId: string): Promise<KeyRow> {
  const row = await getKeyRow(store, keyId).catch(() => null);
  if (!row || row.accountId !== accountId) throw errors.notFound("API key");
  return row;
}

export function planOf(store: Store, config: Config, accountId: string) {
  return getAccountPlan(store, config, accountId).catch(() => null);
}

export interface UsageFilterForm {
  model: string;
  key: string;
  from: string;
  to: string;
}

/** Usage rows and totals for the given filter; `to` is an inclusive UTC date in the form. */
export async function usagePage(store: Store, f: UsageFilter, limit: number, cursor?: string) {
  const page = await listUsage(store, f, limit, cursor);
  const totals = totalsOf(await dailyUsage(store, f));
  return { ...page, totals };
}

/** Rows per chunk of a CSV export: one chunk is read and formatted in a few milliseconds. */
const CSV_CHUNK_ROWS = 1000;

/**
 * Every usage row matching the filter as CSV (newest first; capped at `max` rows), streamed a
 * chunk at a time with a turn of the event loop between chunks: a large export neither blocks
 * other requests nor sits whole in memory.
 */
export function usageCsvStream(store: Store, f: UsageFilter, costUsd: (micros: number) => string, o: { max?: number; onEnd?: () => void } = {}): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const max = o.max ?? 100_000;
  let cursor: string | undefined;
  let count = 0;
  let started = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const lines: string[] = [];
      if (started) await yieldToLoop();
      else lines.push(USAGE_CSV_COLUMNS.join(","));
      started = true;
      let page;
      try {
        page = await listUsage(store, f, Math.min(CSV_CHUNK_ROWS, max - count), cursor);
      } catch (e) {
        o.onEnd?.();
        throw e;
      }
      for (const r of page.rows) lines.push(usageCsvLine(r, costUsd));
      count += page.rows.length;
      cursor = page.nextCursor ?? undefined;
      if (lines.length) controller.enqueue(encoder.encode(`${lines.join("\r\n")}\r\n`));
      if (!cursor || count >= max) {
        controller.close();
        o.onEnd?.();
      }
    },
    cancel: () => o.onEnd?.(),
  });
}

export type LedgerKinds = "" | "credits" | "charges";

/** One page of the account's ledger, newest first, optionally only credits or only charges. */
export async function ledgerPage(store: Store, accountId: string, f: { kinds: LedgerKinds; before?: number; limit: number }) {
  const rows = await store.read((q) => {
    const l = q.t.ledgerEntries;
    const kind = f.kinds === "charges" ? eq(l.kind, "charge") : f.kinds === "credits" ? ne(l.kind, "charge") : undefined;
    return all(q.db.select().from(l)
      .where(and(eq(l.accountId, accountId), lt(l.id, f.before ?? Number.MAX_SAFE_INTEGER), kind))
      .orderBy(desc(l.id))
      .limit(f.limit + 1));
  });
  return { rows: rows.slice(0, f.limit), next: rows.length > f.limit ? rows[f.limit - 1]!.id : null };
}
