import type { Database } from "bun:sqlite";
import { migrations } from "../../drizzle";

/** Applies pending migrations (embedded in the binary); returns how many ran. */
export function applyMigrations(sqlite: Database): number {
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
        .run(new Bun.CryptoHasher("sha256").update(m.sql).digest("hex"), m.when);
    }
  }).immediate();
  return pending.length;
}
