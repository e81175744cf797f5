import { sql, type SQL, type SQLWrapper } from "drizzle-orm";
import type { Q } from "./work";

/**
 * A column containing `text`, case-insensitive on both databases for every letter: PostgreSQL's
 * lower() knows them all; SQLite's knows ASCII only, so there each letter is a GLOB class of both
 * its cases. Wildcards are escaped, not dropped: "john_doe" must find john_doe@…, and match nothing else.
 */
export function contains(q: Q, col: SQLWrapper, text: string): SQL {
  if (q.dialect === "postgres") return sql`lower(${col}) like ${`%${text.replace(/[\\%_]/g, "\\$&").toLowerCase()}%`} escape '\\'`;
  return sql`${col} glob ${`*${[...text].map(globClass).join("")}*`}`;
}

/** One character of a GLOB pattern matching it in either case ("é" → "[éÉ]"); GLOB's own signs taken literally. */
function globClass(c: string): string {
  const lower = c.toLowerCase();
  const upper = c.toUpperCase();
  if (lower !== upper && [...lower].length === 1 && [...upper].length === 1) return `[${lower}${upper}]`;
  return /[*?[\]]/.test(c) ? `[${c}]` : c;
}
