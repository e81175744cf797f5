import type { App } from "./app";
import type { AppDeps } from "./deps";
import type { Server } from "bun";
import { chatRoute } from "../gateway/route";
import { discardUnread, hardBodyCap } from "../lib/body-cap";
import { corsPolicy } from "../lib/cors";
import { ChatMetrics } from "../gateway/metrics";
import type { Config } from "../config/load";
import { Store } from "../store/store";
import { resolveAdminToken } from "../identity/admin-token";
import { createUpstreams } from "../gateway/upstream/upstreams";
import { KeyAuthenticator } from "../gateway/key-auth";
import { SqliteCreditStore } from "../money/sqlite-credit-store";
import { journalPath, SettleJournal } from "../money/settle-journal";
import { rollUpUsage } from "../modules/usage/service";
import { BucketLimiter } from "../gateway/limits/bucket-limiter";
import { installPolicy, sqliteBucketStore } from "../modules/ratelimit/service";
import { AlertNotifier } from "../modules/alerts/notifier";
import { AlertService } from "../modules/alerts/service";
import { stripeFromConfig } from "../modules/billing/stripe-client";

export interface Runtime {
  deps: AppDeps;
  /** Set on the very first start when no admin token is configured: print it once. */
  generatedAdminToken?: string;
  migrated: number;
  recoveredHolds: number;
  /** The settlement journal this process owns, if any: closed (and given up) at stop. */
  journal?: SettleJournal;
}

/** Opens and migrates the database and builds the app's dependencies. */
export function buildRuntime(config: Config, opts: { store?: Store; now?: () => number } = {}): Runtime {
  const now = opts.now ?? Date.now;
  const store = opts.store ?? new Store(config.db_path);
  const migrated = store.migrate();
  // An in-memory database has nothing to survive a crash for: no journal. A second gateway on
  // the same database (unsupported, but safe) commits its settlements to SQLite directly.
  const file = store.file;
  const journaled = config.settle_batch_ms > 0 && file !== null;
  const journal = journaled ? (SettleJournal.claim(journalPath(file!)) ?? undefined) : undefined;
  if (journaled && !journal) {
    console.error(`another gateway process serves ${file} and owns its settlement journal: this one commits settlements to SQLite directly`);
  }
  const credits = new SqliteCreditStore(store, { holdTtlMs: config.hold_ttl_seconds * 1000, now, journal, applyMs: config.settle_batch_ms });
  // Holds persisted by a previous process belong to requests that died with it.
  const recoveredHolds = credits.recover();
  const admin = resolveAdminToken(store, config.admin_token);
  // Plans and tiers go into the database (tiers apply wherever credits are added); buckets are restored.
  installPolicy(store, config, now());
  const limiter = new BucketLimiter(config, { now, store: sqliteBucketStore(store) });
  const deps: AppDeps = {
    config,
    store,
    credits,
    keys: new KeyAuthenticator(store, now),
    limiter,
    adminTokenHash: admin.hash,
    now,
    upstreams: createUpstreams(config),
    metrics: new ChatMetrics(),
  };
  // Low-balance alerts hear of every committed charge (CreditStore.onCharge); payments need the Stripe client.
  const alerts = new AlertService(store, config, (id) => credits.balance(id), new AlertNotifier(store, config, { now }), now);
  alerts.watch(credits);
  deps.alerts = alerts;
  deps.stripe = stripeFromConfig(config);
  return { deps, journal, generatedAdminToken: admin.generated, migrated, recoveredHolds };
}

export interface RunningServer {
  url: string;
  port: number;
  /**
   * Graceful stop: refuses new connections and chat requests, lets in-flight requests and
   * streams finish for up to `shutdown_grace_ms`, then ends the rest (streams get an error
   * event; every hold is settled or released), and flushes state. Resolves when done.
   */
  stop(): Promise<void>;
}

/** Starts listening, with the background jobs (hold sweeper, batched key touches). */
export function startServer(runtime: Runtime, opts: { port?: number; hostname?: string; onFirstChat?: () => void } = {}): RunningServer {
  const { deps } = runtime;
  // The Elysia app and its modules (admin, portal, console, OpenAPI) load on the first request
  // that needs them, in their own chunk of the binary: starting does not pay for them.
  let app: App | undefined;
  let loading: Promise<App> | undefined;
  const loadApp = () => (loading ??= import("./app").then((m) => (app = m.createApp(deps))));
  const chat = chatRoute(deps);
  const cors = corsPolicy(deps.config.cors_origins);
  let firstChat = opts.onFirstChat;
  const chatPost = (req: Request, srv: Server<undefined>) => {
    if (firstChat) {
      const f = firstChat;
      firstChat = undefined;
      f();
    }
    // Bun's idle timer also runs while a response streams (writes do not reset it), so chat
    // requests, which may wait minutes for a first token and stream for longer, switch it off;
    // the gateway's own timeouts (config `timeouts`) bound them instead.
    srv.timeout(req, 0);
    // Browsers only (an Origin header): server-to-server calls pay one header lookup.
    const allow = cors?.headers(req.headers.get("origin"));
    if (!allow) return chat(req);
    return chat(req).then((res) => {
      for (const name in allow) res.headers.set(name, allow[name]!);
      return res;
    });
  };
  const server = Bun.serve({
    port: opts.port ?? deps.config.port,
    hostname: opts.hostname ?? deps.config.host,
    // Chat requests switch it off for themselves (long first-token waits); streams send keep-alive comments.
    idleTimeout: deps.config.idle_timeout_seconds,
    maxRequestBodySize: hardBodyCap(deps.config.max_body_bytes),
    // The hot route goes straight to its handler (see chat/route.ts); everything else to Elysia.
    routes: { "/v1/chat/completions": { POST: chatPost }, "/v1/chat/completions/": { POST: chatPost } },
    fetch: async (req) => {
      const res = await (app ? app.fetch(req) : loadApp().then((a) => a.fetch(req)));
      // An answer given without reading the body (401, 404, 413): see discardUnread.
      await discardUnread(req);
      return res;
    },
  });
  rollUpUsage(deps.store, deps.config.usage_retention_days, deps.now());
  deps.alerts?.notifier.resume();
  const timers = [
    setInterval(() => void deps.credits.sweep(), 5_000),
    setInterval(() => deps.keys.flushTouches(), 5_000),
    setInterval(() => {
      try {
        deps.limiter.persist();
      } catch (e) {
        console.error("rate-limit snapshot failed (retried at the next one):", e);
      }
    }, deps.config.ratelimit_snapshot_seconds * 1000),
    setInterval(() => rollUpUsage(deps.store, deps.config.usage_retention_days, deps.now()), 3_600_000),
  ];
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${server.hostname}:${server.port}`,
    port: server.port!,
    stop: () =>
      (stopped ??= (async () => {
        // Not awaited: it resolves only once every connection has closed, streams included.
        const closed = server.stop();
        const drain = await deps.upstreams.traffic.drain(deps.config.shutdown_grace_ms);
        if (drain.terminated) console.error(`shutdown: ended ${drain.terminated} request(s) still running after the grace period`);
        await Promise.race([closed, Bun.sleep(1_000)]);
        await server.stop(true);
        for (const t of timers) clearInterval(t);
        await deps.credits.flush();
        runtime.journal?.close();
        // Settlements that just committed may have scheduled low-balance checks: let them run
        // while the database is still open (bounded: a slow alert delivery must not hold the exit).
        await new Promise((r) => setImmediate(r));
        await Promise.race([deps.alerts?.settled(), Bun.sleep(5_000)]);
        deps.keys.flushTouches();
        deps.limiter.persist();
        deps.alerts?.notifier.stop();
      })()),
  };
}
