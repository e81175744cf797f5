import { z } from "zod";

/**
 * A whole number from a query string: decimal digits only. z.coerce reads a blank value as 0
 * (for `grace_seconds`, "revoke now") and takes 1e3, 0x10 or " 5 ".
 */
export const queryInt = (min: number, max: number) =>
  z
    .union([z.number(), z.string().regex(/^-?\d{1,16}$/, "expected a whole number (decimal digits)")])
    .pipe(z.coerce.number<string | number>().int().min(min).max(max));
