import { positionals, type LeafCommand } from "./command";

export const migrateCommand: LeafCommand = {
  summary: "Create the database if needed and apply pending migrations (serve does this too)",
  examples: ["tollgate migrate --db /var/lib/tollgate/tollgate.db"],
  async run(ctx, parsed) {
    positionals(parsed, this, "migrate");
    await ctx.db();
    // Never the URL: it may carry a password.
    const dbPath = ctx.shared ? "(PostgreSQL)" : ctx.config().db_path;
    ctx.print({ object: "migration_result", db_path: dbPath, applied: ctx.migrated }, () =>
      ctx.migrated ? `database ${dbPath}: applied ${ctx.migrated} migration(s)` : `database ${dbPath}: up to date, no migration applied`,
    );
  },
};
