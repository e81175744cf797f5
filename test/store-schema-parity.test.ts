/**
 * One schema, two databases: src/store/schema-pg/ is what derive-pg-schema.ts makes of schema/
 * (regenerate with `bun run db:generate`), and after their migrations SQLite and PostgreSQL have
 * the same tables, columns, nullability and unique indexes (PostgreSQL adds the tables only several
 * instances need: schema-pg/cluster.ts).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import { derivePgSchema } from "../src/store/derive-pg-schema";
import { PgStore } from "../src/store/pg-store";
import { openStore } from "../src/store/sqlite-store";
import { freshPostgres } from "./support/postgres";

test("schema-pg/ is derived from schema/ as it is now", () => {
  for (const [file, text] of Object.entries(derivePgSchema())) {
    expect(readFileSync(join(import.meta.dir, "../src/store/schema-pg", file), "utf8"), file).toBe(text);
  }
});

test("the migrated databases agree on tables, columns, nullability and unique indexes", async () => {
  const lite = openStore(":memory:");
  const sqliteCols = new Map<string, string>();
  const tables = lite.sqlite.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '__drizzle_migrations'").all();
  for (const { name } of tables) {
    for (const c of lite.sqlite.query<{ name: string; notnull: number; pk: number }, []>(`PRAGMA table_info(${name})`).all()) {
      sqliteCols.set(`${name}.${c.name}`, c.notnull || c.pk ? "not null" : "null");
    }
  }
  const sqliteUnique = lite.sqlite
    .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE 'CREATE UNIQUE%'")
    .all()
    .map((r) => r.name)
    .sort();
  lite.close();

  const url = await freshPostgres();
  const pg = await PgStore.open(url);
  await pg.close();
  const sql = new SQL(url);
  try {
    const cols = await sql`SELECT table_name, column_name, is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name != '__drizzle_migrations' AND table_name NOT IN ('credit_leases', 'instances', 'ratelimit_shared')`;
    const pgCols = new Map<string, string>((cols as { table_name: string; column_name: string; is_nullable: string }[]).map((c) => [`${c.table_name}.${c.column_name}`, c.is_nullable === "YES" ? "null" : "not null"]));
    expect(Object.fromEntries([...pgCols].sort())).toEqual(Object.fromEntries([...sqliteCols].sort()));
    const idx = await sql`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE 'CREATE UNIQUE%' AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_pk'`;
    expect((idx as { indexname: string }[]).map((r) => r.indexname).sort()).toEqual(sqliteUnique);
  } finally {
    await sql.close();
  }
});
