import { z } from "zod";

/**
 * A number from the file, or from a string (env, or quoted in the file) of plain decimal digits,
 * blanks around them forgiven. Not z.coerce: it reads a blank string, null or false as 0 and true
 * as 1, so `PORT=" "` or `"settle_batch_ms": false` would be taken silently. Nor Number() alone:
 * it takes 1e3, 0x1F90, 0b11 or 0o17, which a port or a time limit never means.
 */
export const num = (form: RegExp, expected: string, ...checks: z.core.$ZodCheck<number>[]) =>
  z.preprocess(
    (v) => (typeof v === "string" && form.test(v.trim()) ? Number(v) : v),
    // Checks in the one schema: a chain of .int().min().max() builds a schema per call, slowly at start-up.
    checks.length ? z.number({ error: notANumber(expected) }).check(...checks) : z.number({ error: notANumber(expected) }),
  );
/** The message of a value that is no number at all; a check's own issue (too small, not whole) keeps zod's. */
const notANumber = (expected: string) => (iss: z.core.$ZodRawIssue) =>
  iss.input === undefined || iss.code !== "invalid_type" || iss.expected !== "number" ? undefined : `expected ${expected}`;
export const decimal = (...checks: z.core.$ZodCheck<number>[]) => num(/^-?\d+(\.\d+)?$/, "a number in decimal digits (such as 0.5)", ...checks);
export const int = (min: number, max: number) => num(/^-?\d+$/, "a whole number in decimal digits", z.int(), z.gte(min), z.lte(max));
