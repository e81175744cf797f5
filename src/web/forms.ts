import type { z } from "zod";
import { safeEqual } from "../lib/crypto";
import { randomBase62 } from "../lib/ids";
import { readCookies, setCookie } from "./cookies";
import type { HeaderPairs } from "./html";
import { hasControl, hasVisible, NAME_MAX } from "../modules/accounts/model";
import { withDecimalPoint } from "../modules/billing/amounts";
import { usdToMicros } from "../money/units";

const PRE = "tg_pre";

/**
 * CSRF token for forms shown before there is a session (sign-in, invite, sign-up): a random
 * cookie that the form must echo (double submit). A cross-site page can neither read the cookie
 * nor set it, so it cannot forge the pair.
 */
export function preCsrf(request: Request, secure: boolean): { token: string; headers: HeaderPairs } {
  const existing = readCookies(request.headers.get("cookie"))[PRE];
  if (existing && /^[0-9A-Za-z]{32}$/.test(existing)) return { token: existing, headers: [] };
  const token = randomBase62(32);
  return { token, headers: [setCookie(PRE, token, { path: "/", maxAge: 86_400, secure, sameSite: "Lax" })] };
}

export function checkPreCsrf(request: Request, body: unknown): boolean {
  const cookie = readCookies(request.headers.get("cookie"))[PRE];
  const presented = field(body, "_csrf");
  return !!cookie && presented.length > 0 && safeEqual(cookie, presented);
}

/** A single string field of a parsed form body ("" when absent; the first of repeated values). */
export function field(body: unknown, name: string): string {
  const v = (body as Record<string, unknown> | null | undefined)?.[name];
  if (typeof v === "string") return v;
  if (Array.isArray(v) && typeof v[0] === "string") return v[0];
  return "";
}

/** A repeated field (checkboxes) as a list. */
export function fieldList(body: unknown, name: string): string[] {
  const v = (body as Record<string, unknown> | null | undefined)?.[name];
  if (typeof v === "string") return v ? [v] : [];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string" && x !== "");
  return [];
}

/** First message per field of a failed zod parse. */
export function fieldErrors(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    const k = String(issue.path[0] ?? "form");
    out[k] ??= issue.message;
  }
  return out;
}

/**
 * A post-sign-in destination: only a local path under the given prefix, in printable ASCII (a
 * Location header cannot carry anything else; a real link is percent-encoded).
 */
export function safeNext(next: string, prefix: string, fallback: string): string {
  if (!next.startsWith(prefix) || next.startsWith("//") || !/^[\x21-\x7e]*$/.test(next) || next.includes("\\")) return fallback;
  return next;
}

/** "YYYY-MM-DD" (UTC) to milliseconds at the start of that day; null for blank or invalid. */
export function dayStart(v: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) return null;
  const ms = Date.parse(`${v}T00:00:00Z`);
  return Number.isNaN(ms) ? null : ms;
}

/** What is wrong with a name typed in a form (trimmed, "" = none), by the API's rules; null when nothing. */
export function nameProblem(name: string): string | null {
  if (name.length > NAME_MAX) return `The name is too long (${NAME_MAX} characters at most).`;
  if (name && !hasVisible(name)) return "The name has no visible characters: enter a name, or leave it empty.";
  if (hasControl(name)) return "The name must not contain control characters (line breaks, tabs).";
  return null;
}

/**
 * An amount in USD as typed in a form ("$12.50", "+3", "-1", "12,50", "1,250"), in micros. A comma
 * is read as the billing amount's: a decimal comma ("12,50") or thousands ("1,250"), never when it
 * could be either or neither ("1.000,50"). Throws when the text is no amount.
 */
export function typedUsd(text: string): number {
  const t = text.trim().replace(/^\$/, "");
  const point = withDecimalPoint(t.replace(/^[+-]/, ""), 2);
  if (point === null) throw new Error("an unclear comma");
  return usdToMicros(`${t.startsWith("-") ? "-" : ""}${point}`);
}
