import type { Config } from "../config/load";
import { KeyAuthenticator } from "../gateway/key-auth";
import { BucketLimiter } from "../gateway/limits/bucket-limiter";
import { ChatMetrics } from "../gateway/metrics";
import { DeferredRequests, pendingDeferred } from "../gateway/deferred";
import { StoredObjects } from "../gateway/stored-objects";
import { createUpstreams } from "../gateway/upstream/upstreams";
import { endStaleConsoleSessionsSync, resolveAdminTokenSync } from "../identity/admin-token";
import { createLog, type Log } from "../lib/log";
import { AlertNotifier } from "../modules/alerts/notifier";
import { AlertService } from "../modules/alerts/service";
import { installPolicySync, sqliteBucketStore } from "../modules/ratelimit/service";
import { journalPath, SettleJournal } from "../money/settle-journal";
import { replayJournal } from "../money/settle-sink";
import { SettleWriter } from "../money/settle-writer";
import { SqliteCreditStore } from "../money/sqlite-credit-store";
import { BudgetClock } from "../money/budget-clock";
import { SERVING_BUSY_MS, SqliteStore } from "../store/sqlite-store";
import type { AppDeps } from "./deps";
import { InFlightCap } from "../lib/in-flight";
import { USAGE_READS_PER_ACCOUNT } from "../modules/usage/reads";

/** A job a shared-store instance runs on a timer (leases, shared buckets, heartbeat). */
export interface SharedJob {
  name: string;
  everyMs: number;
  run(): Promise<unknown>;
}

/** What one instance of several on PostgreSQL adds to the runtime (src/runtime/pg-runtime.ts). */
export interface SharedRuntime {
  instanceId: string;
  jobs: SharedJob[];
  /** At shutdown, after the last settlement: gives back what this instance leased. */
  release(): Promise<void>;
}

export interface Runtime {
  deps: AppDeps;
  /** Set on the very first start when no admin token is configured: print it once. */
  generatedAdminToken?: string;
  migrated: number;
  recoveredHolds: number;
  /** The settlement journal this process owns, if any: closed (and given up) at stop. */
  journal?: SettleJournal;
  /** Set on PostgreSQL (several instances). */
  shared?: SharedRuntime;
}

/** The embedded runtime: its store is the SQLite one (tests reach into it). */
export interface SqliteRuntime extends Runtime {
  deps: Omit<AppDeps, "store" | "keys"> & { store: SqliteStore; keys: KeyAuthenticator };
}

type Completed = "objects" | "deferred" | "upstreams" | "metrics" | "alerts" | "usageReads";

/** The dependencies every runtime builds alike once it has its store, money, keys and limits. */
export function completeDeps<D extends Omit<AppDeps, Completed>>(core: D): D & Pick<AppDeps, Completed> {
  const { config, store, credits, now, log } = core;
  // Low-balance alerts hear of every committed charge (CreditStore.onCharge).
  const alerts = new AlertService(store, config, (id) => credits.balance(id), new AlertNotifier(store, config, { now, log }), now);
  alerts.watch(credits);
  return {
    ...core,
    objects: new StoredObjects(store),
    deferred: new DeferredRequests(store, core.instanceId ?? null),
    upstreams: createUpstreams(config, { log }),
    metrics: new ChatMetrics(),
    usageReads: new InFlightCap<string>(USAGE_READS_PER_ACCOUNT),
    alerts,
  };
}

/** Opens and migrates the database and builds the app's dependencies. */
export function buildRuntime(config: Config, opts: { store?: SqliteStore; now?: () => number; log?: Log } = {}): SqliteRuntime {
  const now = opts.now ?? Date.now;
  const log = opts.log ?? createLog(config.log_format);
  const store = opts.store ?? new SqliteStore(config.db_path);
  // The settlement journal's lock is the database's serving lock, journal on or off: two gateways
  // on one file would each hold credit the other cannot see. Claimed before anything is written
  // (a refused second start migrates nothing). An in-memory database has no journal.
  const claimed = store.file === null ? undefined : claimServing(store);
  let migrated: number;
  try {
    store.assertWritable();
    migrated = store.migrate();
  } catch (e) {
    claimed?.close();
    throw e;
  }
  const journal = config.settle_batch_ms > 0 ? claimed : undefined;
  const budgetClock = new BudgetClock(config.budget_timezone);
  if (claimed && !journal) {
    const left = replayJournal(claimed, new SettleWriter(store, budgetClock));
    if (left > 0) console.error(`applied ${left} journaled settlement(s) left by the previous process (the journal is off now)`);
  }
  const credits = new SqliteCreditStore(store, { holdTtlMs: config.hold_ttl_seconds * 1000, now, journal, applyMs: config.settle_batch_ms, budgetClock });
  // Holds persisted by a previous process belong to requests that died with it.
  const recoveredHolds = credits.recover();
  const admin = resolveAdminTokenSync(store, config.admin_token);
  // Console sessions opened with another admin token end here (the token changed since).
  endStaleConsoleSessionsSync(store, admin.hash);
  // Plans and tiers go into the database (tiers apply wherever credits are added); buckets are restored.
  installPolicySync(store, config, now());
  const limiter = new BucketLimiter(config, { now, store: sqliteBucketStore(store) });
  // Deferred completions still waiting keep their holds across restarts.
  for (const d of store.readSync((q) => pendingDeferred(q))) {
    credits.reserve({ accountId: d.accountId, keyId: d.keyId, capKeyId: d.capKeyId, memberId: d.memberId, requestId: d.requestId, amount: d.holdMicros, live: true, restore: true });
  }
  // Start-up's own writes are done: the first request's write starts the checkpoint thread.
  store.checkpointOffThread();
  // From here on writes run on the event loop: with the journal, a write that finds the database
  // locked fails fast and is tried again (charges are durable in the journal meanwhile).
  if (journal) store.waitForLocks(SERVING_BUSY_MS);
  const deps = completeDeps({ config, store, credits, keys: new KeyAuthenticator(store, now), limiter, adminTokenHash: admin.hash, now, log });
  return { deps, journal: claimed, generatedAdminToken: admin.generated, migrated, recoveredHolds };
}

/** This process's claim on the database file (its journal's lock), or an error naming what holds it. */
function claimServing(store: SqliteStore): SettleJournal {
  const path = journalPath(store.file!);
  const journal = SettleJournal.claim(path);
  if (journal) return journal;
  store.close();
  throw new Error(
    `another gateway process serves ${store.file} (it holds ${path}.lock): stop it first. Two gateways on one SQLite database would each hold credit the other cannot see; several instances share one database on PostgreSQL (database_url, docs/operations.md).`,
  );
}
