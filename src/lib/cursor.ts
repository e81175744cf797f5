import { z } from "zod";
import { errors } from "./errors";

/**
 * Lists paged newest first by cursor: a page's `next_cursor` is its last row's
 * "<created_at in ms>:<id>", which the next request gives back as `before`; rows that share a
 * millisecond are then neither skipped nor repeated (ties go by id).
 */

/** Where a page starts: just after the row (at, id); without `id` (an older form some lists take), before `at`. */
export interface Cursor {
  at: number;
  id?: string;
}

export interface CursorForm {
  /** Also a bare Unix time in ms: the form a list took before its cursor carried the id. */
  bareTime?: boolean;
}

// Ids as newId makes them; digits enough for any safe millisecond, no more.
const CURSOR = /^(\d{1,16})(?::([0-9A-Za-z_]{1,64}))?$/;

// Without a final period: the query schema's 400 adds one, and readCursor says the same.
const NOT_A_CURSOR = "not a cursor from a previous page (give back its next_cursor)";

/** The `next_cursor` of a page whose last row is `r`. */
export const cursorOf = (r: { createdAt: number; id: string }): string => `${r.createdAt}:${r.id}`;

/** A `before` as sent; null when it is none. */
export function parseCursor(s: string, form: CursorForm = {}): Cursor | null {
  const m = CURSOR.exec(s);
  // Beyond a safe integer the time would be rounded (SQLite) or out of bigint's range (PostgreSQL).
  if (!m || !Number.isSafeInteger(Number(m[1]))) return null;
  if (m[2] === undefined) return form.bareTime ? { at: Number(m[1]) } : null;
  return { at: Number(m[1]), id: m[2] };
}

/**
 * The `before` query parameter, checked by parseCursor. A cursor the reader cannot parse must be a
 * 400: read as no cursor, it would restart at the newest row, and a client would page through the
 * same rows forever.
 */
export const beforeParam = (form: CursorForm = {}) => z.string().refine((s) => parseCursor(s, form) !== null, NOT_A_CURSOR);

/** The `before` of a list, read; one no query schema checked gets the 400 the schema gives. */
export function readCursor(before: string | undefined, form: CursorForm = {}): Cursor | undefined {
  if (before === undefined) return undefined;
  const cursor = parseCursor(before, form);
  if (!cursor) throw errors.badRequest(`Invalid query parameter 'before': ${NOT_A_CURSOR}.`, "before");
  return cursor;
}
