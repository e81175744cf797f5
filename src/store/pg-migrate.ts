import type { SQL } from "bun";
import { migrations as pgMigrations } from "../../drizzle/pg";
import { pendingMigrations } from "./migrate";

/** Any constant: the advisory lock that lets one instance migrate while the others wait. */
const MIGRATION_LOCK = 7_420_001;

/**
 * Applies pending PostgreSQL migrations (embedded in the binary) in one transaction, under an
 * advisory lock so that instances starting together migrate once; returns how many ran.
 */
export async function applyPgMigrations(sql: SQL): Promise<number> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS __drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`;
    const [last] = await tx`SELECT created_at FROM __drizzle_migrations ORDER BY created_at DESC LIMIT 1`;
    const pending = pendingMigrations(pgMigrations, last ? Number(last.created_at) : null);
    for (const m of pending) {
      for (const stmt of m.sql.split("--> statement-breakpoint")) if (stmt.trim()) await tx.unsafe(stmt);
      // Same bookkeeping as drizzle-orm's migrator, so drizzle tooling agrees on what ran.
      await tx`INSERT INTO __drizzle_migrations (hash, created_at) VALUES (${new Bun.CryptoHasher("sha256").update(m.sql).digest("hex")}, ${m.when})`;
    }
    return pending.length;
  });
}
