import { existsSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { backupDatabase } from "../money/backup";
import { BudgetClock } from "../money/budget-clock";
import { checkLedger } from "../money/ledger";
import { journalPath, SettleJournal } from "../money/settle-journal";
import { replayJournal } from "../money/settle-sink";
import { SettleWriter } from "../money/settle-writer";
import type { CopiedTable } from "../store/copy-to-pg";
import type { PgStore } from "../store/pg-store";
import { SqliteStore } from "../store/sqlite-store";
import { UsageError } from "./args";
import { pairs, positionals, type CliContext, type LeafCommand } from "./command";

export const migrateToPostgresCommand: LeafCommand = {
  summary: "Copy an embedded database into an empty PostgreSQL one (then check the ledger there); the gateway must be stopped",
  options: {
    from: { type: "string", value: "<file>", describe: "the SQLite database (default db_path)" },
    to: { type: "string", value: "<url>", describe: "postgres://user:password@host/db (default database_url)" },
  },
  examples: ["tollgate migrate-to-postgres --from /var/lib/tollgate/tollgate.db --to postgres://tollgate@db/tollgate"],
  async run(ctx, parsed) {
    positionals(parsed, this, "migrate-to-postgres");
    const from = resolve(String(parsed.options.from ?? ctx.config().db_path));
    const to = String(parsed.options.to ?? ctx.config().database_url ?? "");
    if (!existsSync(from)) throw new UsageError(`migrate-to-postgres: ${from} does not exist`);
    if (!/^postgres(ql)?:\/\//.test(to)) throw new UsageError("migrate-to-postgres: --to postgres://... (or database_url) is required");
    // A gateway serving the file charges on into it after the copy, and those charges would never
    // reach PostgreSQL: its lock on the journal says it runs, and held here keeps one from starting.
    const journal = SettleJournal.claim(journalPath(from));
    if (!journal) {
      ctx.stderr(`migrate-to-postgres: a gateway serves ${from} (it holds ${journalPath(from)}.lock); stop it first, then run this again`);
      return 1;
    }
    try {
      return await migrate(ctx, from, to, journal);
    } finally {
      journal.close();
    }
  },
};

async function migrate(ctx: CliContext, from: string, to: string, journal: SettleJournal): Promise<number> {
  // Loaded here: the PostgreSQL client and schema are not part of every command's start.
  const { PgStore } = await import("../store/pg-store");
  const pg = await PgStore.open(to);
  try {
    const [{ n }] = await pg.sql`SELECT count(*)::int AS n FROM accounts`;
    if (n > 0) {
      ctx.stderr(`migrate-to-postgres: the target database already has ${n} account(s); copy into an empty database`);
      return 1;
    }
    const copied = await copyFrom(ctx, from, pg, journal);
    return await report(ctx, pg, copied);
  } finally {
    await pg.close();
  }
}

/**
 * Copies a consistent snapshot, not the live file. What the journal still holds (a gateway that
 * died before writing it) is written to the file first, as the gateway's next start would.
 */
async function copyFrom(ctx: CliContext, from: string, pg: PgStore, journal: SettleJournal): Promise<{ tables: CopiedTable[]; source: Map<string, number> }> {
  const clock = new BudgetClock(ctx.config().budget_timezone);
  const live = new SqliteStore(from);
  live.migrate();
  const snapshot = join(dirname(from), `.tollgate-migrate-${process.pid}.db`);
  try {
    try {
      replayJournal(journal, new SettleWriter(live, clock));
      backupDatabase(live, snapshot, clock);
    } finally {
      live.close();
    }
    const copy = new SqliteStore(snapshot);
    const { copyToPg } = await import("../store/copy-to-pg");
    try {
      const tables = await copyToPg(copy, pg);
      const source = new Map(tables.map((t) => [t.table, Number((copy.sqlite.query(`SELECT count(*) AS n FROM "${t.table}"`).get() as { n: number }).n)]));
      return { tables, source };
    } finally {
      copy.close();
    }
  } finally {
    rmSync(snapshot, { force: true });
    for (const s of ["-wal", "-shm"]) rmSync(snapshot + s, { force: true });
  }
}

async function report(ctx: CliContext, pg: PgStore, copied: { tables: CopiedTable[]; source: Map<string, number> }): Promise<number> {
  const { countRows } = await import("../store/copy-to-pg");
  const counted = await countRows(pg, copied.tables.map((t) => t.table));
  const short = copied.tables.filter((t) => counted.get(t.table) !== copied.source.get(t.table));
  const mismatches = await checkLedger(pg);
  const rows = copied.tables.reduce((n, t) => n + t.rows, 0);
  ctx.print({ object: "migration_to_postgres", tables: copied.tables, rows, mismatches, incomplete: short.map((t) => t.table) }, () => [
    `copied ${rows} row(s) in ${copied.tables.length} tables to PostgreSQL`,
    ...pairs(copied.tables.filter((t) => t.rows > 0).map((t) => [t.table, String(t.rows)])),
    mismatches.length === 0 ? "ledger check: every balance equals the sum of its ledger entries" : `ledger check: ${mismatches.length} account(s) differ`,
  ]);
  if (short.length > 0) ctx.stderr(`migrate-to-postgres: row counts differ for ${short.map((t) => t.table).join(", ")}`);
  if (mismatches.length > 0) ctx.stderr(`migrate-to-postgres: the ledger check failed for ${mismatches.map((m) => m.accountId).join(", ")}`);
  return short.length > 0 || mismatches.length > 0 ? 1 : 0;
}
