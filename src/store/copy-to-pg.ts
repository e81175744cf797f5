import { getTableColumns, getTableName, is, Table, type Column } from "drizzle-orm";
import { getTableConfig, type PgTable } from "drizzle-orm/pg-core";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import * as sqliteSchema from "./schema";
import * as pgSchema from "./schema-pg";
import type { PgStore } from "./pg-store";
import type { SqliteStore } from "./sqlite-store";

export interface CopiedTable {
  table: string;
  rows: number;
}

type Pair = { name: string; from: SQLiteTable; to: PgTable };

/** PostgreSQL's limit on bound parameters per statement is 65,535: batches stay well below it. */
const PARAMS_PER_BATCH = 30_000;

/** Every table of the embedded schema with its PostgreSQL twin, parents before children (foreign keys). */
export function copyOrder(): Pair[] {
  const pg = pgSchema as unknown as Record<string, unknown>;
  // The derived schema exports each table under the same name (store-schema-parity.test.ts).
  const pairs = Object.entries(sqliteSchema as unknown as Record<string, unknown>)
    .filter(([key, t]) => is(t, Table) && is(pg[key], Table))
    .map(([key, t]) => ({ name: getTableName(t as SQLiteTable), from: t as SQLiteTable, to: pg[key] as PgTable }));
  const byName = new Map(pairs.map((p) => [p.name, p]));
  const done = new Set<string>();
  const ordered: Pair[] = [];
  const visit = (p: Pair, depth = 0) => {
    if (done.has(p.name) || depth > pairs.length) return;
    for (const fk of getTableConfig(p.to).foreignKeys) {
      const parent = byName.get(getTableName(fk.reference().foreignTable));
      if (parent && parent !== p) visit(parent, depth + 1);
    }
    done.add(p.name);
    ordered.push(p);
  };
  for (const p of pairs) visit(p);
  return ordered;
}

/**
 * Copies every row of the embedded database into an empty PostgreSQL one (no accounts: the caller
 * checks; rows a gateway wrote when it started there are replaced), in one transaction
 * (all or nothing), then moves each id sequence past the copied ids. Values go through drizzle's
 * column mappings on both sides (SQLite's 0/1 become booleans, JSON text stays JSON).
 */
export async function copyToPg(from: SqliteStore, to: PgStore): Promise<CopiedTable[]> {
  const order = copyOrder();
  const copied: CopiedTable[] = [];
  await to.sql.begin(async (tx) => {
    // What a gateway writes when it starts on the target (its settings) goes: the copy brings the source's.
    for (const p of [...order].reverse()) await tx.unsafe(`DELETE FROM "${p.name}"`);
    for (const p of order) copied.push({ table: p.name, rows: await copyTable(from, tx, p) });
    for (const p of order) await resetSequence(tx, p);
  });
  return copied;
}

type Tx = import("bun").TransactionSQL;

async function copyTable(from: SqliteStore, tx: Tx, p: Pair): Promise<number> {
  const columns = Object.values(getTableColumns(p.from)) as Column[];
  const pgColumns = getTableColumns(p.to) as Record<string, Column>;
  const names = columns.map((c) => c.name);
  const per = Math.max(1, Math.floor(PARAMS_PER_BATCH / names.length));
  let batch: unknown[][] = [];
  let n = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const list = names.map((c) => `"${c}"`).join(", ");
    const placeholders = batch.map((_, r) => `(${names.map((_, c) => `$${r * names.length + c + 1}`).join(", ")})`).join(", ");
    await tx.unsafe(`INSERT INTO "${p.name}" (${list}) VALUES ${placeholders}`, batch.flat());
    n += batch.length;
    batch = [];
  };
  const pgByName = new Map(Object.values(pgColumns).map((c) => [c.name, c]));
  for (const raw of from.sqlite.query(`SELECT * FROM "${p.name}"`).iterate() as Iterable<Record<string, unknown>>) {
    batch.push(columns.map((c) => toPg(c, pgByName.get(c.name), raw[c.name])));
    if (batch.length >= per) await flush();
  }
  await flush();
  return n;
}

/** A stored SQLite value as PostgreSQL's column takes it. */
function toPg(from: Column, to: Column | undefined, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  const value = from.mapFromDriverValue ? from.mapFromDriverValue(v) : v;
  if (to?.columnType === "PgBoolean") return Boolean(value);
  if (typeof value === "object") return to?.mapToDriverValue ? to.mapToDriverValue(value) : JSON.stringify(value);
  return value;
}

/** A bigserial id continues after the largest copied one. */
async function resetSequence(tx: Tx, p: Pair): Promise<void> {
  const serial = Object.values(getTableColumns(p.to) as Record<string, Column>).find((c) => c.columnType === "PgBigSerial53");
  if (!serial) return;
  await tx.unsafe(`SELECT setval(pg_get_serial_sequence('"${p.name}"', '${serial.name}'), coalesce(max("${serial.name}"), 1), max("${serial.name}") IS NOT NULL) FROM "${p.name}"`);
}

/** Rows per table on PostgreSQL (what the copy is compared with). */
export async function countRows(to: PgStore, tables: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const t of tables) out.set(t, Number((await to.sql.unsafe(`SELECT count(*) AS n FROM "${t}"`))[0].n));
  return out;
}

