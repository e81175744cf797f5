import type { Config } from "../config/load";
import { batchScheduling, startAutoScheduling } from "../runtime/cpu-scheduling";
import { checkListen } from "../runtime/listen-address";
import { buildRuntime, startServer, type RunningServer, type Runtime } from "../runtime/server";
import { startupWarnings } from "../runtime/warnings";
import { positionals, type LeafCommand } from "./command";

/** The embedded SQLite runtime, or (database_url) one instance of several on PostgreSQL, loaded only then. */
export async function openRuntime(config: Config): Promise<Runtime> {
  if (!config.database_url) return buildRuntime(config);
  const { buildPgRuntime } = await import("../runtime/pg-runtime");
  return buildPgRuntime(config);
}

/** `tollgate serve`: migrate, recover orphaned holds, listen, stop cleanly on SIGTERM/SIGINT. */
export async function serve(config: Config, log: (line: string) => void = console.log): Promise<RunningServer> {
  // Whatever the service creates (database, WAL, journal, its lock) is its own alone.
  process.umask(0o077);
  // Before the database is opened or migrated: a host or port it cannot listen on changes nothing.
  await checkListen(config.host, config.port);
  const runtime = await openRuntime(config);
  // Never the URL: it may carry a password.
  if (runtime.migrated) log(`database ${config.database_url ? "(PostgreSQL)" : config.db_path}: applied ${runtime.migrated} migration(s)`);
  if (runtime.shared) log(`instance ${runtime.shared.instanceId} on PostgreSQL`);
  if (runtime.recoveredHolds) log(`released ${runtime.recoveredHolds} hold(s) left by a previous process`);
  if (runtime.generatedAdminToken) {
    log(`generated admin token (shown once, only its hash is stored): ${runtime.generatedAdminToken}`);
  }
  for (const message of startupWarnings(config)) {
    if (runtime.deps.log.enabled) runtime.deps.log.event("warning", { message }, "warn");
    else console.error(`warning: ${message}`);
  }
  runtime.deps.log.flush();
  let stopAuto: (() => void) | undefined;
  // Said while serving: a JSON log stays JSON.
  const say = (message: string, level: "info" | "warn" = "info") =>
    runtime.deps.log.enabled ? runtime.deps.log.event("cpu_scheduling", { message }, level) : log(message);
  const server = startServer(runtime, { onFirstChat: cpuScheduling(config, say, (stop) => (stopAuto = stop)) });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      // A second signal means "now": holds still open are released at the next start.
      log(`${signal} again: exiting at once`);
      process.exit(1);
    }
    stopping = true;
    stopAuto?.();
    log(`${signal}: shutting down (in-flight requests get up to ${config.shutdown_grace_ms} ms to finish)`);
    let code = 0;
    try {
      await server.stop();
      await runtime.deps.store.close();
    } catch (e) {
      console.error("shutdown failed:", e);
      code = 1;
    }
    runtime.deps.log.flush();
    log("stopped");
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  // Only now: whoever waits for this line may send SIGTERM at once, and must get a clean stop.
  log(`tollgate listening on ${server.url}`);
  // The binary starts with the JIT reluctant (build --compile-jit-policy): startup code runs
  // once and is not worth compiling. Requests get the normal policy.
  Bun.unsafe.setJITPolicy(1);
  return server;
}

/**
 * What `cpu_scheduling` does at the first chat request (under load, not while idle: applying a
 * policy costs the gateway about 0.5 MiB of resident memory): see src/runtime/cpu-scheduling.ts.
 */
function cpuScheduling(config: Config, say: (line: string, level?: "warn") => void, started: (stop: () => void) => void): (() => void) | undefined {
  if (config.cpu_scheduling === "batch") {
    return () => void batchScheduling().then((why) => why && say(`cpu_scheduling "batch" not applied (${why}); threads keep the normal policy`, "warn"));
  }
  if (config.cpu_scheduling === "auto" && process.platform === "linux") return () => started(startAutoScheduling(say));
  return undefined;
}

export const serveCommand: LeafCommand = {
  summary: "Run the gateway: migrate the database, then listen (stops cleanly on SIGTERM/SIGINT)",
  examples: ["tollgate serve", "PORT=9000 tollgate serve --config tollgate.toml"],
  async run(ctx, parsed) {
    positionals(parsed, this, "serve");
    await serve(ctx.config(), ctx.stdout);
  },
};
