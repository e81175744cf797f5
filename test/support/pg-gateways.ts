/**
 * Several compiled gateways on one throwaway PostgreSQL database (test/support/postgres.ts), as
 * separate processes: what an operator runs behind a load balancer.
 */
import { SQL } from "bun";
import { afterAll, beforeAll } from "bun:test";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./fake-upstream";
import { freshPostgres } from "./postgres";
import { startBinaryGateway, startGateway, type BinaryGateway, type BinaryGatewayOptions, type Gateway } from "./gateway";

export interface PgCluster {
  url: string;
  gateways: BinaryGateway[];
  /** A connection to the database (closed by stop). */
  sql: SQL;
  /** Starts one more instance on the same database. */
  add(name?: string): Promise<BinaryGateway>;
  stop(): Promise<void>;
}

/** `n` gateways (instance ids i0, i1, ...) on a new database, started one after the other. */
export async function startPgGateways(n: number, opts: BinaryGatewayOptions = {}): Promise<PgCluster> {
  const url = await freshPostgres();
  const gateways: BinaryGateway[] = [];
  const add = async (name = `i${gateways.length}`) => {
    const gw = await startBinaryGateway({ ...opts, env: { ...opts.env, TOLLGATE_DATABASE_URL: url, TOLLGATE_INSTANCE_ID: name } });
    gateways.push(gw);
    return gw;
  };
  for (let i = 0; i < n; i++) await add();
  const sql = new SQL(url, { max: 4 });
  return {
    url,
    gateways,
    sql,
    add,
    async stop() {
      await Promise.all(gateways.map((g) => g.stop("SIGTERM")));
      await sql.close();
    },
  };
}

/** A model at 10 micros an output token and nothing for input: a request of 100 output tokens holds and costs 1,000. */
export const FLAT_MODEL = { id: "flat", provider: "fake", input_price: 0, cached_input_price: 0, output_price: 10, max_output_tokens: 100 };

/**
 * `n` gateways from source on one new database over the demo's fake upstream (its catalogue, one
 * attempt per request, no log), started before the file's (or describe's) tests and stopped after,
 * as stripeGateway does for Stripe: `config` is merged over that, its `models` added to the
 * catalogue's. Read `cluster` inside tests.
 */
export function pgOverFake(n: number, config: Record<string, unknown> & { models?: unknown[] } = {}): { readonly cluster: PgCluster } {
  const ctx = {} as { cluster: PgCluster; upstream: MockUpstream };
  beforeAll(async () => {
    ctx.upstream = startFakeUpstream();
    const cat = fakeCatalogue(ctx.upstream.url);
    const { models = [], ...rest } = config;
    ctx.cluster = await startPgGateways(n, { entry: "source", config: { ...cat, ...SINGLE_SHOT, log_format: "off", ...rest, models: [...cat.models, ...models] } });
  });
  afterAll(async () => {
    await ctx.cluster?.stop();
    await ctx.upstream?.stop();
  });
  return ctx;
}

/**
 * One gateway in process on SQLite over its own fake upstream, configured as pgOverFake's (the
 * catalogue, one attempt per request, no log, `config` merged over): the one-process reference a
 * PostgreSQL test compares with. Started before the file's tests, stopped after; read `sqlite`.
 */
export function sqliteOverFake(config: Record<string, unknown> = {}): { readonly sqlite: Gateway } {
  const ctx = {} as { sqlite: Gateway; upstream: MockUpstream };
  beforeAll(async () => {
    ctx.upstream = startFakeUpstream();
    ctx.sqlite = await startGateway({ config: { ...fakeCatalogue(ctx.upstream.url), ...SINGLE_SHOT, log_format: "off", ...config } });
  });
  afterAll(async () => {
    await ctx.sqlite?.stop();
    await ctx.upstream?.stop();
  });
  return ctx;
}

/** POST /v1/chat/completions of `body` (JSON text) with `key`: the status, the answer read. */
export async function chatStatus(url: string, key: string, body: string): Promise<number> {
  const r = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body });
  await r.arrayBuffer();
  return r.status;
}

/** Every account's balance against its ledger: the books after a run. */
export async function books(sql: SQL): Promise<{ mismatched: number; negative: number }> {
  const [m] = await sql`
    SELECT count(*) FILTER (WHERE a.balance_micros <> coalesce(l.total, 0))::int AS mismatched,
           count(*) FILTER (WHERE a.balance_micros < 0)::int AS negative
    FROM accounts a LEFT JOIN (SELECT account_id, sum(amount_micros) AS total FROM ledger_entries GROUP BY account_id) l ON l.account_id = a.id`;
  return { mismatched: m.mismatched, negative: m.negative };
}
