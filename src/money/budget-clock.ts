/** The periods a budget resets on; each starts at midnight in the configured time zone. */
export const BUDGET_PERIODS = ["day", "week", "month"] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

const DAY_MS = 86_400_000;

/** Whether the platform's Intl knows `tz` (an IANA name such as Europe/Berlin, or UTC). */
export function isTimeZone(tz: string): boolean {
  // UTC needs no Intl: loading its time-zone data costs the process some 5 MiB.
  if (tz === "UTC") return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

type Wall = { y: number; m: number; d: number; h: number; mi: number; s: number };
type Span = { start: number; end: number };

/**
 * Where budget periods begin and end in one time zone: days from local midnight, weeks from
 * Monday, months from the 1st. Budget spend is kept per day, and a week or a month is the sum of
 * its days, so every period boundary is a day boundary. Spans are cached, since the settlement
 * writer and the admission check ask for the current ones on every request.
 */
export class BudgetClock {
  /** Made on first use, and never for UTC: Intl's time-zone data costs the process some 5 MiB. */
  private fmt: Intl.DateTimeFormat | null = null;
  private readonly cache: Record<BudgetPeriod, Span> = { day: { start: 0, end: 0 }, week: { start: 0, end: 0 }, month: { start: 0, end: 0 } };

  constructor(readonly timeZone = "UTC") {}

  /** The first instant of the period containing `ms`. */
  periodStart(period: BudgetPeriod, ms: number): number {
    return this.span(period, ms).start;
  }

  /** When the period containing `ms` ends: the budget's next reset. */
  periodEnd(period: BudgetPeriod, ms: number): number {
    return this.span(period, ms).end;
  }

  dayStart(ms: number): number {
    return this.span("day", ms).start;
  }

  /** ISO 8601 in the zone, with its offset ("2027-01-01T00:00:00+01:00"; "Z" at offset 0). */
  format(ms: number): string {
    const w = this.wall(ms);
    const off = Math.round((wallMs(w) - Math.floor(ms / 1000) * 1000) / 60_000);
    const p2 = (n: number) => String(n).padStart(2, "0");
    const zone = off === 0 ? "Z" : `${off < 0 ? "-" : "+"}${p2(Math.floor(Math.abs(off) / 60))}:${p2(Math.abs(off) % 60)}`;
    return `${w.y}-${p2(w.m)}-${p2(w.d)}T${p2(w.h)}:${p2(w.mi)}:${p2(w.s)}${zone}`;
  }

  private span(period: BudgetPeriod, ms: number): Span {
    const hit = this.cache[period];
    if (ms >= hit.start && ms < hit.end) return hit;
    const w = this.wall(ms);
    let from: [number, number, number];
    let to: [number, number, number];
    if (period === "day") (from = [w.y, w.m, w.d]), (to = [w.y, w.m, w.d + 1]);
    else if (period === "month") (from = [w.y, w.m, 1]), (to = [w.y, w.m + 1, 1]);
    else {
      // ISO weeks: Monday is the first day.
      const back = (new Date(Date.UTC(w.y, w.m - 1, w.d)).getUTCDay() + 6) % 7;
      (from = [w.y, w.m, w.d - back]), (to = [w.y, w.m, w.d - back + 7]);
    }
    const span = { start: this.midnight(...from), end: this.midnight(...to) };
    this.cache[period] = span;
    return span;
  }

  /** The first instant of the local day y-m-d (out-of-range days and months roll over, as in Date.UTC). */
  private midnight(y: number, m: number, d: number): number {
    const target = Date.UTC(y, m - 1, d);
    let t = target;
    // Two rounds find the offset in force at that midnight (it may differ from the one at `target` UTC).
    for (let i = 0; i < 2; i++) t = target - (wallMs(this.wall(t)) - t);
    // A midnight that does not exist (clocks jump at 00:00) lands in the evening before: the day starts at the jump.
    const got = wallMs(this.wall(t));
    if (got < target) t += target - got;
    return t;
  }

  private wall(ms: number): Wall {
    if (this.timeZone === "UTC") {
      const d = new Date(ms);
      return { y: d.getUTCFullYear(), m: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds() };
    }
    this.fmt ??= new Intl.DateTimeFormat("en-US", {
      timeZone: this.timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    const p: Record<string, number> = {};
    for (const part of this.fmt.formatToParts(ms)) if (part.type !== "literal") p[part.type] = Number(part.value);
    return { y: p.year!, m: p.month!, d: p.day!, h: p.hour!, mi: p.minute!, s: p.second! };
  }
}

/** A wall-clock time read as if it were UTC (the difference to the instant is the zone's offset). */
const wallMs = (w: Wall) => Date.UTC(w.y, w.m - 1, w.d, w.h, w.mi, w.s);

/** "this month", "today", ...: the current period in words. */
export const periodWords = (p: BudgetPeriod) => (p === "day" ? "today" : `this ${p}`);
export const periodAdjective = (p: BudgetPeriod) => (p === "day" ? "daily" : `${p}ly`);
export { DAY_MS };
