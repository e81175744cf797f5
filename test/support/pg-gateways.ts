/**
 * Several compiled gateways on one throwaway PostgreSQL database (test/support/postgres.ts), as
 * separate processes: what an operator runs behind a load balancer.
 */
import { SQL } from "bun";
import { freshPostgres } from "./postgres";
import { startBinaryGateway, type BinaryGateway, type BinaryGatewayOptions } from "./gateway";

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

/** Every account's balance against its ledger: the books after a run. */
export async function books(sql: SQL): Promise<{ mismatched: number; negative: number }> {
  const [m] = await sql`
    SELECT count(*) FILTER (WHERE a.balance_micros <> coalesce(l.total, 0))::int AS mismatched,
           count(*) FILTER (WHERE a.balance_micros < 0)::int AS negative
    FROM accounts a LEFT JOIN (SELECT account_id, sum(amount_micros) AS total FROM ledger_entries GROUP BY account_id) l ON l.account_id = a.id`;
  return { mismatched: m.mismatched, negative: m.negative };
}
