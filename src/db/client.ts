import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { migrations } from "../../drizzle";
import * as schema from "./schema";

export type Db = BunSQLiteDatabase<typeof schema> & { $client: Database };

/**
 * Durability policy (README "Storage"): the connection runs WAL with synchronous=NORMAL, so a
 * commit survives a process crash or kill -9 without an fsync per request. Writes that must also
 * survive power loss (top-ups, adjustments, admin changes, payments) go through `durable()`, which
 * runs the transaction under synchronous=FULL so its commit fsyncs the WAL.
 */
export function openDb(path: string): Db {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path, { create: true, strict: true });
  sqlite.exec("PRAGMA journal_mode = WAL");
  sqlite.exec("PRAGMA synchronous = NORMAL");
  sqlite.exec("PRAGMA busy_timeout = 5000");
  sqlite.exec("PRAGMA foreign_keys = ON");
  sqlite.exec("PRAGMA temp_store = MEMORY");
  return drizzle({ client: sqlite, schema }) as Db;
}

/** Applies pending migrations (embedded in the binary); returns how many ran. */
export function migrate(db: Db): number {
  const sqlite = db.$client;
  sqlite.exec(
    "CREATE TABLE IF NOT EXISTS __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)",
  );
  const last = sqlite.query<{ created_at: number }, []>(
    "SELECT created_at FROM __drizzle_migrations ORDER BY created_at DESC LIMIT 1",
  ).get();
  const pending = migrations.filter((m) => !last || Number(last.created_at) < m.when);
  if (pending.length === 0) return 0;
  sqlite.transaction(() => {
    for (const m of pending) {
      for (const stmt of m.sql.split("--> statement-breakpoint")) if (stmt.trim()) sqlite.exec(stmt);
      // Same bookkeeping as drizzle-orm's migrator, so drizzle tooling agrees on what ran.
      sqlite
        .query("INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)")
        .run(createHash("sha256").update(m.sql).digest("hex"), m.when);
    }
  }).immediate();
  return pending.length;
}

/** Runs a write transaction whose commit is fsynced (see policy above). Never pass async code. */
export function durable<T>(db: Db, fn: () => T): T {
  const sqlite = db.$client;
  // Nested in another durable() (e.g. sign-up = account + login + credit): part of the outer
  // transaction, which already commits under FULL (SQLite cannot change the level mid-transaction).
  if (sqlite.inTransaction) return sqlite.transaction(fn)();
  sqlite.exec("PRAGMA synchronous = FULL");
  try {
    return sqlite.transaction(fn).immediate();
  } finally {
    sqlite.exec("PRAGMA synchronous = NORMAL");
  }
}

/** A fast (synchronous=NORMAL) immediate write transaction. Never pass async code. */
export function write<T>(db: Db, fn: () => T): T {
  return db.$client.transaction(fn).immediate();
}
