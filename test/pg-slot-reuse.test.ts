/**
 * On PostgreSQL the slots of a small concurrency limit are leased exactly and go back when unused,
 * so that they follow the demand between instances; but a sequential client on one instance,
 * whose next request comes within 100 ms, keeps its slot: it costs no lease transaction of its
 * own per request (counted in pg_stat_user_tables against a 40-slot key's sliced lease).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startPgGateways, type PgCluster } from "./support/pg-gateways";

setDefaultTimeout(240_000);
let upstream: MockUpstream;
let cluster: PgCluster;
beforeAll(async () => {
  upstream = startFakeUpstream();
  const cat = fakeCatalogue(upstream.url);
  cluster = await startPgGateways(1, { entry: "source", config: { ...cat, ...SINGLE_SHOT, log_format: "off" } });
});
afterAll(async () => {
  await cluster?.stop();
  await upstream?.stop();
});

const changes = async () => {
  const [r] = await cluster.sql`SELECT (n_tup_ins + n_tup_upd + n_tup_del)::int AS n FROM pg_stat_user_tables WHERE relname = 'credit_leases'`;
  return Number(r.n);
};

async function run(concurrency: number): Promise<{ perRequest: number; slotRowAfter: unknown[]; ms: number }> {
  const [g] = cluster.gateways;
  const c = await g!.customer(100_000_000);
  const lim = await g!.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { concurrency } });
  expect(lim.status, await lim.text()).toBe(200);
  const post = () => fetch(`${g!.url}/v1/chat/completions`, {
    method: "POST", headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "grok-4", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }),
  }).then(async (r) => { expect(r.status).toBe(200); await r.arrayBuffer(); });
  await post();
  await Bun.sleep(2_500);
  const before = await changes();
  const t = performance.now();
  const N = 20;
  for (let i = 0; i < N; i++) await post();
  const ms = (performance.now() - t) / N;
  await Bun.sleep(2_500);
  const perRequest = ((await changes()) - before) / N;
  const slotRowAfter = await cluster.sql`SELECT scope, amount_micros::int AS amount FROM credit_leases WHERE scope = ${`conc:key:${c.keyId}`} OR scope LIKE ${`conc:%${c.keyId}%`}`;
  return { perRequest, slotRowAfter, ms };
}

test("a sequential client of a key with concurrency 4 leases nothing from the database per request", async () => {
  const big = await run(40);
  const small = await run(4);
  // Control: with a sliced slot lease (40 slots) the steady state changes one lease row per
  // request (the settlement draws the account's credit lease). The concurrency-4 key should not
  // add lease transactions of its own per request, and its slot lease should still be there.
  expect(small.perRequest - big.perRequest).toBeLessThan(0.5);
});
