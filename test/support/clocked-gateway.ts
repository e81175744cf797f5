import { loadConfig } from "../../src/config/load";
import { buildRuntime, startServer, type Runtime } from "../../src/runtime/server";
import { fakeCatalogue, startFakeUpstream, type MockUpstream } from "./fake-upstream";
import { ADMIN_TOKEN } from "./server";

/**
 * A clock for deps.now that can be frozen (time stands still for the gateway, so bucket levels
 * and waits are exact) or run at real speed from where it stands.
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

export interface ClockedGateway {
  url: string;
  runtime: Runtime;
  upstream: MockUpstream;
  clock: TestClock;
  admin(path: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  customer(credits?: number, plan?: string): Promise<{ accountId: string; keyId: string; key: string }>;
  /** Stops the gateway (snapshotting its state, as on SIGTERM); `keepUpstream` for a restart. */
  stop(opts?: { keepUpstream?: boolean }): Promise<void>;
}

/** A gateway on loopback in front of a fake upstream, with an injected clock. */
export async function startClockedGateway(
  overrides: Record<string, unknown> = {},
  opts: { clock?: TestClock; upstream?: MockUpstream } = {},
): Promise<ClockedGateway> {
  const clock = opts.clock ?? new TestClock();
  const upstream = opts.upstream ?? startFakeUpstream();
  const config = loadConfig({
    overrides: { db_path: ":memory:", admin_token: ADMIN_TOKEN, ...fakeCatalogue(upstream.url), ...overrides },
  });
  const runtime = buildRuntime(config, { now: clock.now });
  const server = startServer(runtime, { port: 0, hostname: "127.0.0.1" });
  const admin: ClockedGateway["admin"] = (path, init = {}) =>
    fetch(server.url + path, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  return {
    url: server.url,
    runtime,
    upstream,
    clock,
    admin,
    async customer(credits = 100_000_000, plan?: string) {
      const acc = (await (await admin("/admin/accounts", { body: { name: "Rate-limited customer", plan } })).json()) as { id: string };
      if (credits) await admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: credits } });
      const key = (await (await admin(`/admin/accounts/${acc.id}/keys`, { body: {} })).json()) as { id: string; key: string };
      return { accountId: acc.id, keyId: key.id, key: key.key };
    },
    async stop(o = {}) {
      await server.stop();
      runtime.deps.store.sqlite.close();
      if (!o.keepUpstream) await upstream.stop();
    },
  };
}
