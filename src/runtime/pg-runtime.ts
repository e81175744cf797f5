import { hostname } from "node:os";
import type { Config } from "../config/load";
import { SharedLimiter } from "../gateway/limits/shared-limiter";
import { PgKeyAuthenticator } from "../gateway/pg-key-auth";
import { endStaleConsoleSessions, resolveAdminToken } from "../identity/admin-token";
import { createLog, type Log } from "../lib/log";
import { installPolicy } from "../modules/ratelimit/service";
import { adoptDeferred } from "../money/pg/deferred-holds";
import { BudgetClock } from "../money/budget-clock";
import { forgetInstance, forgetLeases, heartbeat, liveTwin } from "../money/pg/lease-sql";
import { PgCreditStore } from "../money/pg/pg-credit-store";
import { PgStore } from "../store/pg-store";
import { completeDeps, type Runtime, type SharedRuntime } from "./runtime";

/** This instance's name on the shared database: configured, else host:pid (unique while it runs). */
export const instanceName = (config: Config) => config.instance_id ?? `${hostname()}:${process.pid}`;

/** Heartbeats are 5 s apart: an id seen more recently than this belongs to a live process. */
const TWIN_WINDOW_MS = 12_000;

/**
 * Takes the instance id, refusing one a live process uses: two processes under one id would take
 * each other's credit leases for their own. A process of this host that is gone does not count;
 * the leases it left are deleted, or their credit and slots would wait for them to expire.
 */
export async function claimInstance(store: PgStore, instanceId: string, host: string, startedAt: number): Promise<void> {
  await store.tx(function* (q) {
    const twin = yield* liveTwin(q, instanceId, host, startedAt, TWIN_WINDOW_MS);
    if (twin && !deadHere(twin.host)) {
      throw new Error(`instance_id "${instanceId}" is in use by a running gateway (${twin.host}, seen ${Math.round((startedAt - twin.seenAt) / 1000)} s ago): give each instance its own instance_id`);
    }
    yield* heartbeat(q, instanceId, host, startedAt, startedAt);
    yield* forgetLeases(q, instanceId);
  }, { isolation: "read committed" });
}

/** A "host:pid" of this host whose process has exited. */
function deadHere(host: string): boolean {
  const i = host.lastIndexOf(":");
  if (host.slice(0, i) !== hostname()) return false;
  try {
    process.kill(Number(host.slice(i + 1)), 0);
    return false;
  } catch (e) {
    return (e as { code?: string }).code === "ESRCH";
  }
}

/**
 * The runtime of one of several instances on a PostgreSQL database (config `database_url`):
 * credit and concurrency leased per scope (PgCreditStore, SharedLimiter), rate-limit buckets in
 * the database, keys cached until a change notification. A deferred result is charged by
 * whichever instance fetches it (SettleExtras.owners); its hold is kept by the instance that
 * parked it, or taken over when that one is gone (adoptDeferred).
 */
export async function buildPgRuntime(config: Config, opts: { now?: () => number; log?: Log } = {}): Promise<Runtime> {
  const now = opts.now ?? Date.now;
  const log = opts.log ?? createLog(config.log_format);
  // Migrated once across instances starting together (an advisory lock).
  const store = await PgStore.open(config.database_url!);
  try {
    return await assemble(config, store, now, log);
  } catch (e) {
    // The pool and the LISTEN connection would keep a failed start alive.
    await store.close();
    throw e;
  }
}

async function assemble(config: Config, store: PgStore, now: () => number, log: Log): Promise<Runtime> {
  const instanceId = instanceName(config);
  const startedAt = now();
  const budgetClock = new BudgetClock(config.budget_timezone);
  const credits = new PgCreditStore(store, { instanceId, holdTtlMs: config.hold_ttl_seconds * 1000, budgetClock, now });
  const admin = await resolveAdminToken(store, config.admin_token);
  await endStaleConsoleSessions(store, admin.hash);
  await installPolicy(store, config, now());
  const limiter = new SharedLimiter(config, store, { instanceId, now });
  const keys = new PgKeyAuthenticator(store, now);
  const host = `${hostname()}:${process.pid}`;
  await claimInstance(store, instanceId, host, startedAt);
  // Deferred requests this id parked before (its holds died with that process) are held again.
  const adopted = await adoptDeferred(store, credits, instanceId, now(), true);
  if (adopted > 0) console.error(`holding again the credit of ${adopted} pending deferred request(s) of an earlier process`);
  const beat = () => store.tx((q) => heartbeat(q, instanceId, host, startedAt, now()), { isolation: "read committed" });
  const deps = completeDeps({ config, store, credits, keys, limiter, adminTokenHash: admin.hash, now, log, instanceId });
  const shared: SharedRuntime = {
    instanceId,
    jobs: [
      { everyMs: 5_000, name: "credit leases", run: () => credits.leases.maintain() },
      { everyMs: 1_000, name: "shared rate limits", run: () => limiter.maintain() },
      { everyMs: 5_000, name: "instance heartbeat", run: beat },
      // Those of an instance that stopped (or died) are held by whichever instance looks first.
      { everyMs: 15_000, name: "deferred holds", run: () => adoptDeferred(store, credits, instanceId, now(), false) },
    ],
    // What this instance leased goes back at once: the others need not wait for it to expire.
    release: async () => {
      await credits.leases.releaseAll();
      await limiter.releaseAll();
      await store.tx((q) => forgetInstance(q, instanceId, host));
    },
  };
  return { deps, shared, generatedAdminToken: admin.generated, migrated: store.migrated, recoveredHolds: 0 };
}
