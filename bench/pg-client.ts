/**
 * `bun bench/pg-client.ts`: the PostgreSQL client, measured: Bun's built-in SQL client and
 * postgres.js, each under drizzle (its bun-sql and postgres-js drivers), on the statement shape of a
 * settlement group commit (a transaction of an advisory lock, an UPDATE ... RETURNING and a
 * multi-row INSERT), 20 at once. Prints transactions per second and CPU per transaction of this
 * process (the client's cost; the server's is the same for both).
 */
import { SQL } from "bun";
import { sql } from "drizzle-orm";
import { drizzle as bunDrizzle } from "drizzle-orm/bun-sql";
import { drizzle as pgjsDrizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { freshPostgres } from "../test/support/postgres";

const TXS = 4_000;
const WIDTH = 20;
type Db = { transaction<T>(fn: (tx: { execute(q: unknown): Promise<unknown> }) => Promise<T>): Promise<T> };

async function setup(url: string): Promise<void> {
  const s = new SQL(url);
  await s.unsafe("CREATE TABLE acc (id text PRIMARY KEY, b bigint NOT NULL); CREATE TABLE led (id bigserial PRIMARY KEY, acc text, amount bigint, note text)");
  await s.unsafe("INSERT INTO acc SELECT 'a' || g, 1000000000 FROM generate_series(1, 20) g");
  await s.close();
}

async function run(db: Db): Promise<{ tps: number; cpuUs: number }> {
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: WIDTH }, async () => {
    while (next < TXS) {
      const i = next++;
      const acc = `a${(i % 20) + 1}`;
      const rows = JSON.stringify(Array.from({ length: 4 }, (_, j) => ({ acc, amount: -j, note: `n${i}` })));
      await db.transaction(async (tx) => {
        await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${acc}, 0))`);
        await tx.execute(sql`UPDATE acc SET b = b - 6 WHERE id = ${acc} RETURNING b`);
        await tx.execute(sql`INSERT INTO led (acc, amount, note) SELECT acc, amount, note FROM json_populate_recordset(null::led, ${rows}::text::json)`);
      });
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { tps: TXS / seconds, cpuUs: (cpu.user + cpu.system) / TXS };
}

const results: Record<string, { tps: number; cpuUs: number }[]> = { "bun:sql (drizzle bun-sql)": [], "postgres.js (drizzle postgres-js)": [] };
for (let round = 0; round < 3; round++) {
  for (const name of Object.keys(results)) {
    const url = await freshPostgres();
    await setup(url);
    if (name.startsWith("bun")) {
      const client = new SQL(url, { max: WIDTH });
      results[name]!.push(await run(bunDrizzle({ client }) as unknown as Db));
      await client.close();
    } else {
      const client = postgres(url, { max: WIDTH });
      results[name]!.push(await run(pgjsDrizzle(client) as unknown as Db));
      await client.end();
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
console.log(`| client | transactions/s (median of 3) | client CPU µs/transaction |\n|---|---:|---:|`);
for (const [name, rs] of Object.entries(results)) console.log(`| ${name} | ${Math.round(median(rs.map((r) => r.tps)))} | ${Math.round(median(rs.map((r) => r.cpuUs)))} |`);
process.exit(0);
