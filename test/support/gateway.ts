/**
 * The one way tests start a gateway, and the admin/customer helpers every test uses on it:
 *
 * - startGateway(opts): in this process (buildRuntime + startServer) on 127.0.0.1, port 0;
 * - startBinaryGateway(opts): the compiled binary (or `bun src/index.ts`) as its own process.
 *
 * Both return a GatewayClient (admin, customer, key, me, account, balance, session) plus what
 * only that kind of gateway has (runtime and config in process; proc and output for a process).
 * Stopping is idempotent; tests stop their gateways in afterAll or finally.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import type { Subprocess } from "bun";
import { loadConfig, type Config } from "../../src/config/load";
import { createSession, type NewSession, type SessionKind } from "../../src/identity/sessions";
import { sha256Hex } from "../../src/lib/crypto";
import type { AccountViewT } from "../../src/modules/accounts/model";
import { buildRuntime, startServer } from "../../src/runtime/server";
import type { SqliteRuntime } from "../../src/runtime/runtime";
import { SqliteStore } from "../../src/store/sqlite-store";
import { BIN, ensureBinary, ROOT } from "./binary";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./fake-upstream";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

// ---------------------------------------------------------------------------------------------
// Shared helpers

export interface AdminInit {
  /** Default: GET without a body, POST with one. */
  method?: string;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Customer {
  accountId: string;
  keyId: string;
  key: string;
}

/** What `customer()` uses when not told otherwise. */
export interface CustomerDefaults {
  /** Micros credited to a new customer (default 10_000_000, i.e. 10 USD). */
  credits?: number;
  /** Account name (default "Test customer"). */
  name?: string;
}

export interface GatewayClient {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  /** The token admin() sends (the configured one, or the one generated at the first start). */
  adminToken: string | undefined;
  /** fetch with the admin token (content-type JSON). */
  admin(path: string, init?: AdminInit): Promise<Response>;
  /**
   * A new account (name from the defaults unless `accountBody` says otherwise), `credits` micros
   * credited when non-zero, and one key created with `keyBody`.
   */
  customer(credits?: number, keyBody?: Record<string, unknown>, accountBody?: Record<string, unknown>): Promise<Customer>;
  /** Another key for an account. */
  key(accountId: string, body?: Record<string, unknown>): Promise<{ id: string; key: string }>;
  /** GET /v1/me with `key`, as `Authorization: Bearer` (default) or as `x-api-key`. */
  me(key: string, via?: "authorization" | "x-api-key"): Promise<Response>;
  /** GET /admin/accounts/:id, parsed. */
  account(accountId: string): Promise<AccountViewT>;
  /** The account's balance_micros (GET /admin/accounts/:id). */
  balance(accountId: string): Promise<number>;
  /** A portal ("customer") or console ("admin") session token, made directly in the database. */
  session(kind: SessionKind, accountId: string | null): Promise<string>;
}

/** The shared helpers for a gateway at `url`. `withStore` runs a function on its database. */
export function gatewayClient(
  url: string,
  adminToken: string | undefined,
  opts: { customer?: CustomerDefaults; withStore: <T>(fn: (store: SqliteStore) => T) => T },
): GatewayClient {
  const defaults = { credits: 10_000_000, name: "Test customer", ...opts.customer };
  const admin: GatewayClient["admin"] = (path, init = {}) =>
    fetch(url + path, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json", ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  const key: GatewayClient["key"] = async (accountId, body = {}) =>
    (await (await admin(`/admin/accounts/${accountId}/keys`, { body })).json()) as { id: string; key: string };
  const account: GatewayClient["account"] = async (accountId) => (await (await admin(`/admin/accounts/${accountId}`)).json()) as AccountViewT;
  return {
    url,
    adminToken,
    admin,
    key,
    account,
    async customer(credits = defaults.credits, keyBody = {}, accountBody = {}) {
      const acc = (await (await admin("/admin/accounts", { body: { name: defaults.name, ...accountBody } })).json()) as { id: string };
      if (credits) await admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: credits } });
      const made = await key(acc.id, keyBody);
      return { accountId: acc.id, keyId: made.id, key: made.key };
    },
    me: (k, via = "authorization") => fetch(`${url}/v1/me`, { headers: via === "authorization" ? { authorization: `Bearer ${k}` } : { "x-api-key": k } }),
    balance: async (accountId) => (await account(accountId)).balance_micros,
    session: async (kind, accountId) => {
      // A console session is bound to the admin token (see createSession).
      const s: NewSession = kind === "admin" ? { kind, accountId: null, adminHash: sha256Hex(adminToken ?? ""), ttlMs: 3_600_000 } : { kind, accountId, ttlMs: 3_600_000 };
      return (await opts.withStore((store) => createSession(store, s))).token;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A clock for deps.now

/**
 * A clock for deps.now that can be frozen (time stands still for the gateway, so bucket levels
 * and waits are exact) or run at real speed from where it stands. Starts frozen.
 */
export class TestClock {
  private frozenAt: number | null;
  private base: number;
  private realBase: number;

  constructor(start = Date.now()) {
    this.frozenAt = start;
    this.base = start;
    this.realBase = Date.now();
  }

  readonly now = (): number => this.frozenAt ?? this.base + (Date.now() - this.realBase);

  freeze(): void {
    this.frozenAt = this.now();
  }

  /** Time runs again (at real speed) from the frozen instant. */
  run(): void {
    if (this.frozenAt === null) return;
    this.base = this.frozenAt;
    this.realBase = Date.now();
    this.frozenAt = null;
  }

  /** Moves a frozen clock forward. */
  add(ms: number): void {
    if (this.frozenAt === null) throw new Error("freeze the clock first");
    this.frozenAt += ms;
  }
}

// ---------------------------------------------------------------------------------------------
// In process

export interface GatewayOptions {
  /** Config overrides; they win over everything the options below set. */
  config?: Record<string, unknown>;
  /** Environment variables for loadConfig (nothing from this process's environment is read). */
  env?: Record<string, string>;
  /** Default ADMIN_TOKEN; null: none configured (a fresh database generates one, used by admin()). */
  adminToken?: string | null;
  /** Default ":memory:". */
  dbPath?: string;
  /**
   * A fake upstream behind the default catalogue (fakeCatalogue): true starts one, or pass one
   * (e.g. to restart a gateway in front of the same upstream). stop() stops it (see stop).
   */
  upstream?: true | MockUpstream;
  /**
   * With an upstream: one attempt per request and a breaker that never opens unless the config
   * asks (SINGLE_SHOT), so that each test sees the upstream's answer to its own request. Default
   * true; retries, failover and breakers are in test/resilience-*.test.ts.
   */
  singleShot?: boolean;
  /** The gateway's clock (deps.now); also `gateway.clock`. */
  clock?: TestClock;
  /** Another clock function for deps.now (when not a TestClock). */
  now?: () => number;
  /** Defaults of customer(). */
  customer?: CustomerDefaults;
}

export interface Gateway extends GatewayClient {
  runtime: SqliteRuntime;
  config: Config;
  /** The fake upstream (throws when the gateway was started without one). */
  readonly upstream: MockUpstream;
  /** The TestClock given in the options (throws when none was). */
  readonly clock: TestClock;
  /**
   * Stops the server (draining and snapshotting as on SIGTERM), closes the database and stops
   * the upstream, unless `keepUpstream` (to restart a gateway in front of it). Idempotent.
   */
  stop(opts?: { keepUpstream?: boolean }): Promise<void>;
}

/** A gateway in this process on 127.0.0.1 (port 0) with a fresh in-memory (or given) database. */
export async function startGateway(opts: GatewayOptions = {}): Promise<Gateway> {
  const upstream = opts.upstream === true ? startFakeUpstream() : opts.upstream;
  const token = opts.adminToken === undefined ? ADMIN_TOKEN : opts.adminToken;
  const config = loadConfig({
    env: opts.env ?? {},
    overrides: {
      db_path: opts.dbPath ?? ":memory:",
      // The operator's log stays quiet in process; tests that read it pass log_format themselves.
      log_format: "off",
      ...(token === null ? {} : { admin_token: token }),
      ...(upstream ? fakeCatalogue(upstream.url) : {}),
      ...(upstream && (opts.singleShot ?? true) ? SINGLE_SHOT : {}),
      ...opts.config,
    },
  });
  const runtime = buildRuntime(config, { now: opts.clock?.now ?? opts.now });
  const server = startServer(runtime, { port: 0, hostname: "127.0.0.1" });
  const client = gatewayClient(server.url, token ?? runtime.generatedAdminToken, {
    customer: opts.customer,
    withStore: (fn) => fn(runtime.deps.store),
  });
  let stopped: Promise<void> | undefined;
  return {
    ...client,
    runtime,
    config,
    get upstream(): MockUpstream {
      if (!upstream) throw new Error("this gateway has no fake upstream: start it with { upstream: true }");
      return upstream;
    },
    get clock(): TestClock {
      if (!opts.clock) throw new Error("this gateway has no TestClock: start it with { clock: new TestClock() }");
      return opts.clock;
    },
    stop(o = {}) {
      return (stopped ??= (async () => {
        await server.stop();
        runtime.deps.store.close();
        if (upstream && !o.keepUpstream) await upstream.stop();
      })());
    },
  };
}

/**
 * Options of the rate-limit tests' gateways, with `clock: new TestClock()`: a fake upstream with
 * the configured retries and breaker (not single-shot), and customers with 100 USD.
 */
export const RATE_LIMITED = {
  upstream: true,
  singleShot: false,
  customer: { credits: 100_000_000, name: "Rate-limited customer" },
} as const satisfies GatewayOptions;

// ---------------------------------------------------------------------------------------------
// As its own process

export interface BinaryGatewayOptions {
  /** Working directory and HOME. Default: a fresh temporary folder, removed at stop. */
  dir?: string;
  /** Default ["serve"], plus ["--config", configFile] when `config` or `configFile` is given. */
  args?: string[];
  /** Written as JSON to `configFile` in `dir` before the start. */
  config?: Record<string, unknown>;
  /** Default "tollgate.json" (relative to `dir`, or absolute). */
  configFile?: string;
  /** Added to the environment (which is otherwise PATH, HOME, PORT=0, HOST=127.0.0.1 only). */
  env?: Record<string, string>;
  /** TOLLGATE_ADMIN_TOKEN; default ADMIN_TOKEN; null: not set (the binary generates one). */
  adminToken?: string | null;
  /** TOLLGATE_DB (relative to `dir`, or absolute); also where session() opens the database. */
  dbPath?: string;
  /** "binary" (default): dist/tollgate, rebuilt when a source is newer; "source": `bun src/index.ts`. */
  entry?: "binary" | "source";
  /** The process's stderr: kept ("pipe", default, shown if it exits before listening) or "inherit". */
  stderr?: "pipe" | "inherit";
  /** Defaults of customer(). */
  customer?: CustomerDefaults;
}

export interface BinaryGateway extends GatewayClient {
  proc: Subprocess<"ignore", "pipe", "pipe" | "inherit">;
  dir: string;
  /** The database file, when known (dbPath, or db_path of `config`). */
  dbPath: string | undefined;
  /** Everything printed on stdout so far (kept up to date). */
  output(): string;
  /** Sends `signal` (default SIGTERM) unless it has exited; its exit code. Idempotent. */
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/**
 * Runs `tollgate serve` (or `args`, e.g. ["demo"]) as its own process and waits for its
 * "listening on <url>" line.
 */
export async function startBinaryGateway(opts: BinaryGatewayOptions = {}): Promise<BinaryGateway> {
  const entry = opts.entry ?? "binary";
  if (entry === "binary") await ensureBinary();
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "tollgate-gw-"));
  const inDir = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  // The source runs from the repository (its cwd); the binary from `dir`.
  const cwd = entry === "source" ? ROOT : dir;
  let configArg: string | undefined;
  if (opts.config !== undefined || opts.configFile !== undefined) {
    const file = opts.configFile ?? "tollgate.json";
    if (opts.config !== undefined) writeFileSync(inDir(file), JSON.stringify(opts.config));
    configArg = entry === "source" ? inDir(file) : file;
  }
  const args = opts.args ?? ["serve", ...(configArg ? ["--config", configArg] : [])];
  const token = opts.adminToken === undefined ? ADMIN_TOKEN : opts.adminToken;
  const dbPath = opts.dbPath !== undefined ? inDir(opts.dbPath) : typeof opts.config?.db_path === "string" ? inDir(opts.config.db_path) : undefined;
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, PORT: "0", HOST: "127.0.0.1" };
  if (token !== null) env.TOLLGATE_ADMIN_TOKEN = token;
  if (opts.dbPath !== undefined) env.TOLLGATE_DB = dbPath!;
  const command = entry === "source" ? ["bun", "src/index.ts", ...args] : [BIN, ...args];
  const proc = Bun.spawn(command, { cwd, env: { ...env, ...opts.env }, stdin: "ignore", stdout: "pipe", stderr: opts.stderr ?? "pipe" });

  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let url: string | undefined;
  while (!url) {
    const { value, done } = await reader.read();
    if (done) {
      const err = proc.stderr instanceof ReadableStream ? await new Response(proc.stderr).text() : "";
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      throw new Error(`tollgate ${args.join(" ")} exited (${await proc.exited}) before listening: ${text}${err}`);
    }
    text += decoder.decode(value, { stream: true });
    url = /listening on (http:\/\/[^\s]+)/.exec(text)?.[1];
  }
  void (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += decoder.decode(r.value, { stream: true });
    }
  })();
  url = url.replace("0.0.0.0", "127.0.0.1");
  const generated = token === null ? /generated admin token[^\n]*?(tg-admin-\S+)/.exec(text)?.[1] : undefined;
  const client = gatewayClient(url, token ?? generated, {
    customer: opts.customer,
    withStore(fn) {
      if (!dbPath) throw new Error("the gateway's database is unknown: start it with dbPath");
      const store = new SqliteStore(dbPath);
      try {
        return fn(store);
      } finally {
        store.sqlite.close();
      }
    },
  });
  let stopped: Promise<number> | undefined;
  return {
    ...client,
    proc,
    dir,
    dbPath,
    output: () => text,
    stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return (stopped ??= proc.exited.then((code) => {
        if (ownDir) rmSync(dir, { recursive: true, force: true });
        return code;
      }));
    },
  };
}
