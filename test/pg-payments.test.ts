/**
 * Payments on PostgreSQL: a checkout started on one instance, its paid webhook delivered to the
 * other two at once (and again): one credit, seen by every instance, one audit entry.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { fakeCatalogue, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { deliver, paidSession, signStripe, startFakeStripe, stripeEnv, stripeEvent, type FakeStripe } from "./support/fake-stripe";
import { books, startPgGateways, type PgCluster } from "./support/pg-gateways";

setDefaultTimeout(120_000);
const USD = 1_000_000;
let upstream: MockUpstream;
let stripe: FakeStripe;
let cluster: PgCluster;

beforeAll(async () => {
  upstream = startFakeUpstream();
  stripe = startFakeStripe();
  cluster = await startPgGateways(3, { config: fakeCatalogue(upstream.url), env: stripeEnv(stripe) });
});

afterAll(async () => {
  await cluster?.stop();
  await upstream?.stop();
  await stripe?.stop();
});

describe("payments over three instances", () => {
  test("a paid checkout delivered to two instances at once, then a third time, credits once, everywhere", async () => {
    const [a, b, c] = cluster.gateways as [typeof cluster.gateways[0], typeof cluster.gateways[0], typeof cluster.gateways[0]];
    const cu = await a.customer(0);
    const res = await fetch(`${a.url}/v1/billing/checkout`, {
      method: "POST",
      headers: { authorization: `Bearer ${cu.key}`, "content-type": "application/json" },
      body: JSON.stringify({ amount: 25 }),
    });
    expect(res.status).toBe(201);
    const view = (await res.json()) as { id: string };
    const session = [...stripe.sessions.values()].find((s) => (s.metadata as Record<string, string>).tollgate_payment_id === view.id)!;
    const payload = stripeEvent("checkout.session.completed", paidSession(session, "pi_test_pg"));
    const sig = await signStripe(payload);
    const results = await Promise.all([deliver(b.url, payload, sig), deliver(c.url, payload, sig)]);
    const third = await deliver(a.url, payload);
    const outcomes = await Promise.all([...results, third].map(async (r) => ((await r.json()) as { result: string }).result));
    expect(outcomes.sort()).toEqual(["credited", "duplicate", "duplicate"]);
    for (const g of cluster.gateways) expect(await g.balance(cu.accountId)).toBe(25 * USD);
    const [{ n }] = await cluster.sql`SELECT count(*)::int AS n FROM audit_log WHERE action = 'payment.paid' AND target_id = ${view.id}`;
    expect(n).toBe(1);
    expect((await books(cluster.sql)).mismatched).toBe(0);
  });
});
