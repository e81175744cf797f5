/** Money is integer micro-credits: 1 credit = 1 USD = 1,000,000 micros. */
export const MICROS_PER_USD = 1_000_000;

/**
 * The most an account's balance (and any single credit) may hold: 10^9 USD. Far below 2^53, so
 * every sum of balances, holds and charges stays an exact integer in a JavaScript number.
 */
export const MAX_BALANCE_MICROS = 1e15;

/** Parse a decimal USD string ("12.5", "-0.000001") into micros without floating point. */
export function usdToMicros(input: string): number {
  const m = /^(-)?(\d+)(?:\.(\d{1,6}))?$/.exec(input.trim());
  if (!m) throw new Error(`not a USD amount with at most 6 decimals: ${JSON.stringify(input)}`);
  const micros = Number(m[2]) * MICROS_PER_USD + Number((m[3] ?? "").padEnd(6, "0"));
  if (!Number.isSafeInteger(micros)) throw new Error(`amount out of range: ${input}`);
  return m[1] && micros !== 0 ? -micros : micros;
}

/** Exact decimal rendering of micros ("1.500000" → "1.5"). */
export function microsToUsd(micros: number): string {
  const sign = micros < 0 ? "-" : "";
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS_PER_USD);
  const frac = String(abs % MICROS_PER_USD).padStart(6, "0").replace(/0+$/, "");
  return `${sign}${whole}${frac ? `.${frac}` : ""}`;
}

/** Micros as USD with all six decimals ("12.345678", "0.000000"): fixed width for headers. */
export function microsToUsdFixed(micros: number): string {
  const sign = micros < 0 ? "-" : "";
  const abs = Math.abs(micros);
  return `${sign}${Math.floor(abs / MICROS_PER_USD)}.${String(abs % MICROS_PER_USD).padStart(6, "0")}`;
}

/** What a markup may be: withMarkup (src/money/pricing.ts) keeps hundredths of a percent, no finer. */
export const MARKUP_RULE = "a percentage from 0 to 10000 with at most 2 decimals";

/** Whether a markup as written (for a number, its shortest form: 12.345 stays 12.345) follows MARKUP_RULE. */
export function isMarkupPercent(text: string): boolean {
  return /^\d+(\.\d{1,2})?$/.test(text) && Number(text) <= 10_000;
}
