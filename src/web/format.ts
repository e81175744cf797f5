import { microsToUsd } from "../money/units";
import { html, type Html } from "./html";

const group = (digits: string) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** Exact money from micros: "$1,234.50", "$0.000123", "-$2.00" (never rounded, at least cents). */
export function usd(micros: number): string {
  const s = microsToUsd(micros);
  const neg = s.startsWith("-");
  const [whole, frac = ""] = (neg ? s.slice(1) : s).split(".");
  return `${neg ? "-" : ""}$${group(whole!)}.${frac.padEnd(2, "0")}`;
}

/** Like usd() but with an explicit + for credits (ledger amounts). */
export const signedUsd = (micros: number): string => (micros > 0 ? `+${usd(micros)}` : usd(micros));

export const int = (n: number): string => group(String(Math.trunc(n)));

/** Compact token counts for cards: 950, 12.3K, 4.56M, 1.2B. */
export function compact(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1000) return String(n);
  const [d, suffix] = abs < 1e6 ? [1e3, "K"] : abs < 1e9 ? [1e6, "M"] : [1e9, "B"];
  const v = n / d;
  return `${v.toFixed(Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0).replace(/\.?0+$/, "")}${suffix}`;
}

/** ISO 8601 of a time in ms; null for none, or one beyond JavaScript's dates (a row older releases let in). */
const iso = (ms: number | null | undefined): string | null => (ms == null || !(Math.abs(ms) <= 8.64e15) ? null : new Date(ms).toISOString());

/** UTC date-time "2026-01-05 14:03" (the dashboard is in UTC throughout). */
export function dateTime(ms: number | null | undefined): string {
  return iso(ms)?.slice(0, 16).replace("T", " ") ?? "—";
}

export function date(ms: number | null | undefined): string {
  return iso(ms)?.slice(0, 10) ?? "—";
}

/** "in 3 days", "2 hours ago" relative to now. */
export function relative(ms: number, now = Date.now()): string {
  const diff = ms - now;
  const abs = Math.abs(diff);
  const units: [number, string][] = [[86_400_000, "day"], [3_600_000, "hour"], [60_000, "minute"]];
  for (const [size, name] of units) {
    if (abs >= size) {
      const n = Math.floor(abs / size);
      const label = `${n} ${name}${n === 1 ? "" : "s"}`;
      return diff >= 0 ? `in ${label}` : `${label} ago`;
    }
  }
  return diff >= 0 ? "in under a minute" : "just now";
}

/** A summary amount to the cent, half up ("$104.99"); a non-zero amount below half a cent shows as "< $0.01". */
export function cents(micros: number): string {
  const abs = Math.abs(micros);
  const rounded = Math.floor((abs + 5_000) / 10_000) * 10_000;
  if (rounded === 0 && abs > 0) return micros > 0 ? "< $0.01" : "> -$0.01";
  return usd(micros < 0 ? -rounded : rounded);
}

/** A summary amount in cents with the exact amount, to the micro, in its title (shown on hover). */
export const money = (micros: number): Html => html`<span class="money" title="${usd(micros)}">${cents(micros)}</span>`;

/** ` title="<exact amount>"` for an element that shows cents() itself (stat cards keep their markup). */
export const exactTitle = (micros: number): Html => html` title="${usd(micros)}"`;
