import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type * as schema from "./schema";

/**
 * The tables as services see them: the SQLite declarations' types. On PostgreSQL the same names
 * hold schema-pg/'s tables (same columns, same TypeScript types), so one service serves both.
 */
export type Tables = typeof schema;

/** The query builder as services see it; they run queries only through a store (work.ts), never directly. */
export type Db = BunSQLiteDatabase<Tables>;
