/**
 * Plain predicates for the hot path's body checks: each mirrors a zod rule exactly (zod's object
 * is not an array; its int is a safe integer), so a body that passes needs no zod copy.
 */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
/** zod's nullish(): absent, null, or passing `ok`. */
export const nullish = (v: unknown, ok: (v: unknown) => boolean): boolean => v === undefined || v === null || ok(v);
export const isBoolean = (v: unknown): boolean => typeof v === "boolean";
export const isNonEmptyString = (v: unknown): v is string => typeof v === "string" && v.length > 0;
export const isPositiveInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
/** A non-empty array of objects with a non-empty string `role` (chat and Messages). */
export const isMessageList = (v: unknown): boolean => {
  if (!Array.isArray(v) || v.length === 0) return false;
  for (const m of v) if (!isObject(m) || !isNonEmptyString(m.role)) return false;
  return true;
};
