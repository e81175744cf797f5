/**
 * Concurrency slots one instance leases and no longer uses are asked back by another that needs
 * them, as credit is (test/pg-unused-leases.test.ts): right after instance A served a few
 * requests of a key (or an account) with a concurrency limit of 20, and so leases a slice of its
 * slots, 20 requests in flight at once on instance B are all admitted, instead of some getting
 * 429 until A's idle slice returns after 10 s. Never beyond the limit: 21 requests in flight over
 * both instances get exactly one 429. An instance reports what its requests hold of its slots
 * only with its renewals (every second), so slots freed since then are asked for too.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { LeaseBook } from "../src/money/pg/lease-book";
import { leaseWants } from "../src/money/pg/lease-wants";
import type { Scope } from "../src/money/pg/scopes";
import type { PgStore } from "../src/store/pg-store";
import { pgOverFake } from "./support/pg-gateways";
import { twoPgStores } from "./support/pg-credit";
import type { BinaryGateway } from "./support/gateway";

setDefaultTimeout(300_000);
const LIMIT = 20;

describe("slot books on one database", () => {
  const dbs = twoPgStores();
  let [a, b] = [dbs.a, dbs.b];
  beforeAll(() => void ([a, b] = [dbs.a, dbs.b]));

  /** Instance `id`'s concurrency slots, asking the others as SharedLimiter's book does. */
  function slotBook(db: PgStore, id: string): LeaseBook {
    const book: LeaseBook = new LeaseBook(db, { instanceId: id, now: Date.now, want: leaseWants(db, () => book, id) });
    return book;
  }

  test("slots whose requests ended after the holder's last report (every slot held then) are asked back too", async () => {
    const [sa, sb] = [slotBook(a, "slots_a"), slotBook(b, "slots_b")];
    const scope: Scope = { kind: "conc", key: "conc:k:key_reported", slots: 200 };
    expect(await sa.ensure(scope, 1)).toBe(true);
    sa.unpend(scope.key, 1);
    const lease = sa.peek(scope.key)!;
    // A slice of a plentiful limit (1/8), all of it held by requests when A renewed it...
    expect(lease.leased).toBe(25);
    lease.held = lease.leased;
    await sa.maintain();
    // ... which ended since: the database still says A holds every slot it leases.
    lease.held = 0;
    const t0 = performance.now();
    expect(await sb.ensure(scope, 200)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(lease.leased).toBe(0);
    // Never beyond the limit: B's requests are promised all 200.
    expect(await sa.ensure(scope, 1)).toBe(false);
  });
});

const pg = pgOverFake(2, {
  max_concurrent_streams: 2_000,
  plans: { default: { rpm: 1_000_000, tpm: 1_000_000_000, concurrency: 1_000 }, twenty: { rpm: 1_000_000, tpm: 1_000_000_000, concurrency: LIMIT } },
});
const quick = JSON.stringify({ model: "grok-4", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
/** Answered after a second: every request sent together is in flight at the same time. */
const slow = JSON.stringify({ model: "grok-4", max_tokens: 10, messages: [{ role: "user", content: "hi" }], mock: { delay_ms: 1_000 } });

async function call(gw: BinaryGateway, key: string, body: string): Promise<{ status: number; message?: string }> {
  const r = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body });
  const j = (await r.json()) as { error?: { message: string } };
  return { status: r.status, message: j.error?.message };
}

const statuses = (answers: { status: number }[]) => answers.map((a) => a.status).sort();

/** A customer whose key (or account, on plan "twenty") may have 20 requests in flight; the scope its slots are leased in. */
async function limited(level: "key" | "account"): Promise<{ key: string; scope: string }> {
  const a = pg.cluster.gateways[0]!;
  const c = await a.customer(100_000_000);
  const set = level === "key"
    ? await a.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { concurrency: LIMIT } })
    : await a.admin(`/admin/accounts/${c.accountId}/plan`, { method: "PUT", body: { plan: "twenty" } });
  expect(set.status).toBe(200);
  // Every instance hears of the change (within a second).
  await Bun.sleep(1_500);
  return { key: c.key, scope: level === "key" ? `conc:k:${c.keyId}` : `conc:a:${c.accountId}` };
}

async function leasedBy(scope: string, instance: string): Promise<number> {
  const [r] = await pg.cluster.sql`SELECT amount_micros::int AS n FROM credit_leases WHERE scope = ${scope} AND instance_id = ${instance} AND expires_at > ${Date.now()}`;
  return r?.n ?? 0;
}

for (const level of ["key", "account"] as const) {
  test(`${level === "key" ? "a key" : "an account"}'s slots leased on A and unused are asked back: ${LIMIT} requests in flight on B right after are all admitted`, async () => {
    const [a, b] = pg.cluster.gateways as [BinaryGateway, BinaryGateway];
    const { key, scope } = await limited(level);
    for (let i = 0; i < 3; i++) expect((await call(a, key, quick)).status).toBe(200);
    // A slice of a plentiful limit (1/8), leased by A and not used by it now.
    expect(await leasedBy(scope, "i0")).toBeGreaterThan(0);
    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: LIMIT }, () => call(b, key, slow)));
    expect(statuses(answers)).toEqual(Array<number>(LIMIT).fill(200));
    // Well within A's 10 s idle give-back: the slots were asked for.
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
}

test(`${LIMIT + 1} requests in flight at once over both instances: exactly one 429, never beyond the limit`, async () => {
  const [a, b] = pg.cluster.gateways as [BinaryGateway, BinaryGateway];
  const { key } = await limited("key");
  // A leases a slice first, as a customer's earlier traffic would have left it.
  expect((await call(a, key, quick)).status).toBe(200);
  const answers = await Promise.all(Array.from({ length: LIMIT + 1 }, (_, i) => call(i % 2 ? b : a, key, slow)));
  expect(statuses(answers)).toEqual([...Array<number>(LIMIT).fill(200), 429]);
  expect(answers.find((r) => r.status === 429)?.message).toContain("Too many concurrent requests");
});
