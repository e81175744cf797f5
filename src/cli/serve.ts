import type { Config } from "../config/load";
import { buildRuntime, startServer, type RunningServer } from "../server";
import { positionals, type LeafCommand } from "./command";

/** `tollgate serve`: migrate, recover orphaned holds, listen, stop cleanly on SIGTERM/SIGINT. */
export async function serve(config: Config, log: (line: string) => void = console.log): Promise<RunningServer> {
  const runtime = buildRuntime(config);
  if (runtime.migrated) log(`database ${config.db_path}: applied ${runtime.migrated} migration(s)`);
  if (runtime.recoveredHolds) log(`released ${runtime.recoveredHolds} hold(s) left by a previous process`);
  if (runtime.generatedAdminToken) {
    log(`generated admin token (shown once, only its hash is stored): ${runtime.generatedAdminToken}`);
  }
  const server = startServer(runtime);
  log(`tollgate listening on ${server.url}`);
  const shutdown = async (signal: string) => {
    log(`${signal}: shutting down`);
    await server.stop();
    runtime.deps.db.$client.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  return server;
}

export const serveCommand: LeafCommand = {
  summary: "Run the gateway: migrate the database, then listen (stops cleanly on SIGTERM/SIGINT)",
  examples: ["tollgate serve", "PORT=9000 tollgate serve --config tollgate.toml"],
  async run(ctx, parsed) {
    positionals(parsed, this, "serve");
    await serve(ctx.config(), ctx.stdout);
  },
};
