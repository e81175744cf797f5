import type { Server } from "bun";
import { METERED_APIS } from "../gateway/apis";
import { settleDeferred } from "../gateway/deferred-results";
import { gatewayRoute, type GatewayRoute } from "../gateway/route";
import { anthropicError, anthropicShaped } from "../gateway/dialects/anthropic-shape";
import { BUN_BODY_CAP, discardUnread } from "../lib/body-cap";
import { ApiError, errors } from "../lib/errors";
import { newSortableId } from "../lib/ids";
import { secretRedactor } from "../lib/redact-secrets";
import { keyPrefixes } from "../identity/key-prefixes";
import { toApiError } from "../lib/to-api-error";
import { boundedRequest } from "./bounded-request";
import { listenError, urlHost } from "./listen-address";
import { corsPolicy, isCustomerApi } from "../lib/cors";
import type { App } from "./app";
import type { AppDeps } from "./deps";
import type { Runtime } from "./runtime";
import { badHost, logRequest } from "./app-log";
import { runRetention } from "./retention";

export { buildRuntime, type Runtime } from "./runtime";

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

type Handler = (req: Request, srv: Server<undefined>) => Response | Promise<Response>;

/** Starts listening, with the background jobs (hold sweeper, batched key touches, snapshots). */
export function startServer(runtime: Runtime, opts: { port?: number; hostname?: string; onFirstChat?: () => void } = {}): RunningServer {
  const { deps } = runtime;
  const writes: Writes = { until: 0 };
  const metered = meteredRoutes(deps, writes, opts.onFirstChat);
  const port = opts.port ?? deps.config.port;
  const hostname = opts.hostname ?? deps.config.host;
  let server: Server<undefined>;
  try {
    server = Bun.serve({
      port,
      hostname,
      // Chat requests switch it off for themselves (long first-token waits); streams send keep-alive comments.
      idleTimeout: deps.config.idle_timeout_seconds,
      maxRequestBodySize: BUN_BODY_CAP,
      // The metered routes go straight to their handler (gateway/route.ts); everything else to Elysia.
      routes: metered,
      fetch: appHandler(deps, metered),
      // Never Bun's development page (paths, source lines): what escaped a handler is a plain 500.
      development: false,
      error: (e) => toApiError("UNKNOWN", e).toResponse({ "x-request-id": newSortableId("req") }),
    });
  } catch (e) {
    throw listenError(e, hostname, port);
  }
  void deps.alerts?.notifier.resume();
  const timers = [...startJobs(deps), ...sharedJobs(runtime)];
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${urlHost(server.hostname ?? hostname)}:${server.port}`,
    port: server.port!,
    stop: () => (stopped ??= stop(runtime, server, timers, writes)),
  };
}

/** When the whole answers handed to Bun to write should be written at a slow reader's pace (performance.now()). */
interface Writes {
  until: number;
}

/** Every metered API's POST route (with and without a trailing slash), ahead of Elysia. */
function meteredRoutes(deps: AppDeps, writes: Writes, onFirstChat?: () => void): Record<string, { POST: Handler }> {
  const first = { call: onFirstChat };
  const routes: Record<string, { POST: Handler }> = {};
  for (const { path, dialect } of METERED_APIS) {
    const handler = meteredHandler(deps, gatewayRoute(deps, dialect), first, writes);
    routes[path] = { POST: handler };
    routes[`${path}/`] = { POST: handler };
  }
  return routes;
}

/** The pace a client reading a whole answer is given time for (16 KiB/s: a 4 MiB answer gets 256 s more). */
const SLOW_READER_BYTES_PER_SECOND = 16_384;
/** Bun's ceiling for a request's idle timeout (larger values are taken as this). */
const MAX_IDLE_SECONDS = 255;

/**
 * Bun's idle timer does not count body bytes arriving: when a body may take longer than the idle
 * timeout (timeouts.body_ms), its request is given that long, as far as Bun allows; null: no need.
 */
function bodySeconds(config: AppDeps["config"]): number | null {
  const s = Math.min(MAX_IDLE_SECONDS, Math.ceil(config.timeouts.body_ms / 1000));
  return s > config.idle_timeout_seconds ? s : null;
}

/** One metered route, with the CORS headers a browser needs. */
function meteredHandler(deps: AppDeps, route: GatewayRoute, first: { call?: () => void }, writes: Writes): Handler {
  const cors = corsPolicy(deps.config.cors_origins);
  const idle = deps.config.idle_timeout_seconds;
  const forBody = bodySeconds(deps.config);
  return (req, srv) => {
    if (forBody) srv.timeout(req, forBody);
    if (first.call) {
      const f = first.call;
      first.call = undefined;
      f();
    }
    // Bun's idle timer also runs while a response streams (writes do not reset it), so admitted
    // chat requests, which may wait minutes for a first token and stream for longer, switch it
    // off; the gateway's own timeouts (config `timeouts`) bound them instead. Until admitted (key
    // checked, body read within timeouts.body_ms, credit held) the idle timer stays; once the
    // response is done it is on again, or a kept-alive connection would never be closed. A whole
    // answer is still to be written then, and writes do not reset the timer: it gets time for
    // its size at a slow reader's pace, up to the 255 s Bun allows.
    const admitted = () => srv.timeout(req, 0);
    const finished = (unsent: number) => {
      const seconds = Math.min(MAX_IDLE_SECONDS, idle + Math.ceil(unsent / SLOW_READER_BYTES_PER_SECOND));
      srv.timeout(req, seconds);
      // A shutdown lets it finish (within its grace): see stop.
      if (unsent > 0) writes.until = Math.max(writes.until, performance.now() + seconds * 1000);
    };
    // Browsers only (an Origin header): server-to-server calls pay one header lookup.
    const allow = cors?.headers(req.headers.get("origin"));
    if (!allow) return route(req, undefined, admitted, finished);
    return route(req, undefined, admitted, finished).then((res) => {
      for (const name in allow) res.headers.set(name, allow[name]!);
      return res;
    });
  };
}

/**
 * Every other route: the Elysia app and its modules (admin, portal, console, OpenAPI) load on
 * the first request that needs them, in their own chunk of the binary: starting does not pay for them.
 */
function appHandler(deps: AppDeps, metered: Record<string, { POST: Handler }>): Handler {
  const cors = corsPolicy(deps.config.cors_origins);
  const forBody = bodySeconds(deps.config);
  let redact = secretRedactor(deps.config);
  // Keys of an earlier key_prefix are secrets too: their prefixes read once, at the first request
  // here (not at start: the metered routes log no path, and starting stays a read shorter).
  let older: Promise<void> | undefined;
  const olderPrefixes = () =>
    (older ??= keyPrefixes(deps.store, deps.config.key_prefix).then(
      (prefixes) => void (redact = secretRedactor({ ...deps.config, key_prefixes: prefixes })),
      (e) => console.error("could not read the key prefixes to redact from the log (the configured one still is):", e),
    ));
  let app: App | undefined;
  let loading: Promise<App> | undefined;
  const loadApp = (srv: Server<undefined>) =>
    (loading ??= import("./app").then((m) => {
      app = m.createApp(deps);
      // app.fetch() is not app.listen(): without this, `server` (requestIP) is null in handlers.
      app.server = srv as unknown as App["server"];
      return app;
    }));
  return async (req, srv) => {
    if (!URL.canParse(req.url)) {
      // A Host header that is no host leaves Bun a URL of the path alone, which nothing here can read.
      if (req.headers.has("host") || !req.url.startsWith("/")) return badHost(deps, req);
      // No Host at all (HTTP/1.0 needs none: a balancer's health check): read as a path on this
      // host, always a path ("//x/admin" is not a host x), whatever the listener's address family.
      req = new Request(`http://localhost${req.url}`, req);
    }
    // Bun's routes match the path as sent; a metered one spelled with dot segments
    // (/v1/./chat/completions) still gets its own handler, never a second one in the app.
    const route = req.method === "POST" ? metered[new URL(req.url).pathname] : undefined;
    if (route) return route.POST(req, srv);
    const started = performance.now();
    const withBody = forBody !== null && (req.headers.has("content-length") || req.headers.has("transfer-encoding"));
    if (withBody) srv.timeout(req, forBody);
    let res: Response;
    try {
      const bounded = await boundedRequest(req, srv, deps);
      res = await (app ? app.fetch(bounded) : loadApp(srv).then((a) => a.fetch(bounded)));
    } catch (e) {
      // Refused before the app (body too large or too slow, headers too large): the app's CORS
      // plugin never ran, and without its headers a page could not read why.
      const allow = cors && isCustomerApi(req.url) ? cors.headers(req.headers.get("origin")) : null;
      const error = e instanceof ApiError ? e : errors.internal();
      const headers = { "x-request-id": newSortableId("req"), ...allow };
      res = anthropicShaped(req) ? anthropicError(error, headers) : error.toResponse(headers);
    }
    await olderPrefixes();
    logRequest(deps, req, res, started, redact);
    // An answer given without reading the body (401, 404, 413): see discardUnread.
    if (!(await discardUnread(req))) res.headers.set("connection", "close");
    // The body is in (or given up): the connection is idle-timed as usual again.
    if (withBody) srv.timeout(req, deps.config.idle_timeout_seconds);
    return res;
  };
}

/**
 * A job every `everyMs`, one run at a time: a run that outlasts the interval is not joined by a
 * second one (which would, say, ask the upstream for the same pending results twice).
 */
function oneAtATime(name: string, everyMs: number, run: () => Promise<unknown>): ReturnType<typeof setInterval> {
  let running = false;
  return setInterval(() => {
    if (running) return;
    running = true;
    void run()
      .catch((e) => console.error(`${name} failed (retried at the next run):`, e))
      .finally(() => (running = false));
  }, everyMs);
}

/** The background jobs: hold sweeper, key last-used times, database file check, rate-limit snapshots, retention (usage roll-up, stored objects). */
function startJobs(deps: AppDeps): ReturnType<typeof setInterval>[] {
  return [
    setInterval(() => void deps.credits.sweep(), 5_000),
    setInterval(() => void deps.keys.flushTouches(), 5_000),
    // A database file deleted or replaced under the gateway is logged within seconds, whether or not readiness is polled.
    setInterval(() => deps.store.fileProblem?.(), 5_000),
    setInterval(() => {
      try {
        deps.limiter.persist();
      } catch (e) {
        console.error("rate-limit snapshot failed (retried at the next one):", e);
      }
    }, deps.config.ratelimit_snapshot_seconds * 1000),
    // The first run waits a minute, so that a start (and its first requests) never waits for it.
    setTimeout(() => void runRetention(deps), 60_000),
    setInterval(() => void runRetention(deps), 3_600_000),
    // Deferred results nobody fetched: charged when ready, released when the upstream forgot them.
    oneAtATime("settling deferred completions", 60_000, () => settleDeferred(deps)),
  ];
}

/** On a shared store: renewing leases, giving back idle rate-limit units, the heartbeat. One run at a time each. */
function sharedJobs(runtime: Runtime): ReturnType<typeof setInterval>[] {
  return (runtime.shared?.jobs ?? []).map((job) => oneAtATime(job.name, job.everyMs, () => job.run()));
}

/** What any connection still writing gets at the stop: error events of ended requests, small answers. */
const FLUSH_MS = 1_000;

async function stop(runtime: Runtime, server: Server<undefined>, timers: ReturnType<typeof setInterval>[], writes: Writes): Promise<void> {
  const { deps } = runtime;
  const deadline = performance.now() + deps.config.shutdown_grace_ms;
  // Not awaited: it resolves only once every connection has closed, streams included.
  const closed = server.stop();
  const drain = await deps.upstreams.traffic.drain(deps.config.shutdown_grace_ms);
  if (drain.terminated) console.error(`shutdown: ended ${drain.terminated} request(s) still running after the grace period`);
  // A whole answer still being written to a slow client gets its writing time, within the grace;
  // any other connection a second (a half-sent request must not hold the stop for the grace).
  // Idle connections do not hold `closed` back, so an idle gateway stops at once.
  await Promise.race([closed, Bun.sleep(Math.max(Math.min(writes.until, deadline) - performance.now(), FLUSH_MS))]);
  await server.stop(true);
  for (const t of timers) clearInterval(t);
  await deps.credits.flush();
  runtime.journal?.close();
  // Settlements that just committed may have scheduled low-balance checks: let them run
  // while the database is still open (bounded: a slow alert delivery must not hold the exit).
  await new Promise((r) => setImmediate(r));
  await Promise.race([deps.alerts?.settled(), Bun.sleep(5_000)]);
  await deps.keys.flushTouches();
  deps.limiter.persist();
  await runtime.shared?.release().catch((e) => console.error("could not give back this instance's leases (they expire by themselves):", e));
  deps.alerts?.notifier.stop();
}
