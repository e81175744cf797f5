import type { Config } from "../../config/load";

// Stripe amounts are integers in the currency's minor unit; these have none or three decimals.
const ZERO_DECIMAL = new Set(["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]);
const THREE_DECIMAL = new Set(["bhd", "jod", "kwd", "omr", "tnd"]);

export function currencyExponent(currency: string): number {
  const c = currency.toLowerCase();
  return ZERO_DECIMAL.has(c) ? 0 : THREE_DECIMAL.has(c) ? 3 : 2;
}

/** An amount scaled by 1e6 (how config and parsed input hold decimals) in minor units; null if finer than the currency allows. */
export function scaledToMinor(scaled: number, exponent: number): number | null {
  const factor = 10 ** (6 - exponent);
  return scaled % factor === 0 ? scaled / factor : null;
}

/**
 * A typed amount with its comma read: "1,000" and "1,000.50" group thousands, "5,50" (no "." and
 * at most `decimals` digits after it) is a decimal comma. Null when a comma is neither, or could be
 * both ("1,000" with three decimals). A comma is never just dropped: "5,50" is not 550.
 */
export function withDecimalPoint(text: string, decimals: number): string | null {
  if (!text.includes(",")) return text;
  // A first group of 0 is no thousands: "0,500" is a decimal comma or unclear, never 500.
  const grouped = /^[1-9]\d{0,2}(,\d{3})+(\.\d+)?$/.test(text);
  const decimalComma = decimals > 0 && new RegExp(`^\\d+,\\d{1,${decimals}}$`).test(text);
  if (grouped === decimalComma) return null;
  return grouped ? text.replace(/,/g, "") : text.replace(",", ".");
}

/** "1050" cents → "10.50". */
export function formatMinor(minor: number, exponent: number): string {
  if (exponent === 0) return String(minor);
  const sign = minor < 0 ? "-" : "";
  const abs = String(Math.abs(minor)).padStart(exponent + 1, "0");
  return `${sign}${abs.slice(0, -exponent)}.${abs.slice(-exponent)}`;
}

/** floor(value * part / whole) in exact integer arithmetic (no float rounding on money). */
export function proportion(value: number, part: number, whole: number): number {
  if (whole <= 0) return 0;
  return Number((BigInt(value) * BigInt(part)) / BigInt(whole));
}

export interface BillingSettings {
  /** Stripe keys configured: otherwise nothing payment-related is offered. */
  enabled: boolean;
  currency: string;
  exponent: number;
  presetsMinor: number[];
  minMinor: number;
  maxMinor: number;
  /** Micro-credits per whole currency unit paid. */
  creditPerUnit: number;
}

export function billingSettings(config: Config): BillingSettings {
  const exponent = currencyExponent(config.payment_currency);
  const toMinor = (scaled: number) => scaledToMinor(scaled, exponent) ?? Math.ceil(scaled / 10 ** (6 - exponent));
  return {
    enabled: Boolean(config.stripe_secret_key && config.stripe_webhook_secret),
    currency: config.payment_currency,
    exponent,
    presetsMinor: [...new Set(config.topup_presets.map(toMinor))].filter((m) => m > 0).sort((a, b) => a - b),
    minMinor: Math.max(1, toMinor(config.topup_min)),
    maxMinor: toMinor(config.topup_max),
    creditPerUnit: config.credit_per_unit,
  };
}

/** Micro-credits granted for a payment of `minor` units (floored: never more than paid for). */
export function creditFor(s: Pick<BillingSettings, "exponent" | "creditPerUnit">, minor: number): number {
  return proportion(minor, s.creditPerUnit, 10 ** s.exponent);
}
