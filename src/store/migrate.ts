import type { Database } from "bun:sqlite";
import { migrations } from "../../drizzle";

/**
 * The migrations this binary would apply to a database whose newest applied one is `last`. A
 * database a newer release has migrated is refused: this code does not know its schema.
 */
export function pendingMigrations<M extends { when: number }>(known: readonly M[], last: number | null): M[] {
  const newest = known.at(-1)?.when ?? 0;
  if (last !== null && last > newest) {
    throw new Error(
      `the database was upgraded by a newer Tollgate (its schema is from ${new Date(last).toISOString()}, this binary knows up to ${new Date(newest).toISOString()}); run the newer binary, or restore the backup taken before the upgrade`,
    );
  }
  return known.filter((m) => last === null || last < m.when);
}

/** The newest migration applied to an SQLite database (null: none), creating the bookkeeping table. */
function lastApplied(sqlite: Database): number | null {
  sqlite.exec(
    "CREATE TABLE IF NOT EXISTS __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)",
  );
  const last = sqlite.query<{ created_at: number }, []>(
    "SELECT created_at FROM __drizzle_migrations ORDER BY created_at DESC LIMIT 1",
  ).get();
  return last ? Number(last.created_at) : null;
}

/** How many migrations the database lacks (it is not changed, bar the bookkeeping table); throws if it is ahead. */
export function missingMigrations(sqlite: Database): number {
  return pendingMigrations(migrations, lastApplied(sqlite)).length;
}

/** Applies pending migrations (embedded in the binary); returns how many ran. */
export function applyMigrations(sqlite: Database): number {
  const pending = pendingMigrations(migrations, lastApplied(sqlite));
  if (pending.length === 0) return 0;
  sqlite.transaction(() => {
    for (const m of pending) {
      for (const stmt of m.sql.split("--> statement-breakpoint")) if (stmt.trim()) sqlite.exec(stmt);
      // Same bookkeeping as drizzle-orm's migrator, so drizzle tooling agrees on what ran.
      sqlite
        .query("INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)")
        .run(new Bun.CryptoHasher("sha256").update(m.sql).digest("hex"), m.when);
    }
  }).immediate();
  return pending.length;
}
