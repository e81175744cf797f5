import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { backupDatabase, partialPath } from "../money/backup";
import { BudgetClock } from "../money/budget-clock";
import { missingMigrations } from "../store/migrate";
import { UsageError } from "./args";
import { pairs, positionals, type CliContext, type LeafCommand } from "./command";

export const backupCommand: LeafCommand = {
  summary: "Copy the database to a new file, consistent and complete, while the gateway serves it",
  args: ["<file>"],
  examples: ["tollgate backup /var/backups/tollgate-$(date +%F).db", "tollgate backup nightly.db --json"],
  run(ctx, parsed) {
    const [file] = positionals(parsed, this, "backup");
    if (ctx.config().database_url) return explainPgDump(ctx, file!);
    const target = resolve(file!);
    if (existsSync(target)) throw new UsageError(`backup: ${target} already exists; give a new file name`);
    // Not replaced: it may be the file of a backup still running under the same name.
    const partial = partialPath(target);
    if (existsSync(partial)) {
      throw new UsageError(`backup: ${partial} exists: a backup to ${target} is running, or one was stopped half-way (then delete it, with its -journal, -wal and -shm if any: it is never a complete backup)`);
    }
    if (!existsSync(dirname(target))) throw new UsageError(`backup: the folder ${dirname(target)} does not exist`);
    // Opening a missing database would create an empty one and back that up: a typo in a cron job would go unseen.
    const source = ctx.config().db_path;
    if (source === ":memory:" || !existsSync(source)) throw new UsageError(`backup: there is no database at ${source} (db_path); nothing was copied`);
    // Never migrated here: a backup before an upgrade must stay restorable by the binary that serves it.
    const store = ctx.sqlite({ migrate: false });
    const missing = missingMigrations(store.sqlite);
    if (missing > 0) {
      throw new UsageError(`backup: ${source} lacks ${missing} migration(s) this binary has; back it up with the binary that serves it (nothing was copied or changed)`);
    }
    const r = backupDatabase(store, target, new BudgetClock(ctx.config().budget_timezone));
    ctx.print({ object: "backup", ...r }, () => [
      `backed up ${ctx.config().db_path} to ${r.path}`,
      ...pairs([
        ["size", `${r.bytes} bytes`],
        ["accounts", String(r.accounts)],
        ["ledger entries", String(r.ledgerEntries)],
        ["from the journal", `${r.journaled} charge(s) the gateway had not yet written to the database`],
        ["ledger check", r.mismatches.length === 0 ? "every balance equals the sum of its ledger entries" : `${r.mismatches.length} account(s) differ`],
      ]),
    ]);
    if (r.mismatches.length > 0) {
      ctx.stderr(`backup: the ledger check failed for ${r.mismatches.map((m) => m.accountId).join(", ")} (balance is not the sum of the ledger)`);
      return 1;
    }
  },
};

/** On PostgreSQL the database's own tools make a consistent copy while the gateways serve: say how. */
function explainPgDump(ctx: CliContext, file: string): number {
  ctx.stderr(
    [
      "backup: this gateway keeps its books in PostgreSQL (database_url), not in a file; back it up with PostgreSQL's tools:",
      `  pg_dump --format=custom --file=${file} "$TOLLGATE_DATABASE_URL"`,
      "pg_dump reads one consistent snapshot while the gateways keep serving (every committed charge is in it);",
      `restore into an empty database with: pg_restore --no-owner --dbname=<url> ${file}`,
      "(or use your provider's point-in-time recovery). See docs/operations.md.",
    ].join("\n"),
  );
  return 1;
}
