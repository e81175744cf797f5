/**
 * Looking at a balance writes nothing. On PostgreSQL an instance reads what it has not leased (the
 * account's balance, the key line's cap, its budget) before it shows it: GET /v1/me and the
 * portal's overview read them without leasing, so a customer refreshing their balance inserts or
 * renews no credit_leases row, and what they are shown is still the account's balance, cap and budget.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { usd } from "../src/web/format";
import { pgOverFake } from "./support/pg-gateways";
import { WebClient } from "./support/web-client";

setDefaultTimeout(60_000);
const pg = pgOverFake(1);

/** Counts every insert and update of credit_leases (an ON CONFLICT update included), per scope. */
async function countLeaseWrites(): Promise<void> {
  const sql = pg.cluster.sql;
  await sql.unsafe(`
    CREATE TABLE lease_writes (scope text NOT NULL, op text NOT NULL);
    CREATE FUNCTION count_lease_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO lease_writes VALUES (NEW.scope, TG_OP); RETURN NEW; END $$;
    CREATE TRIGGER count_lease_write AFTER INSERT OR UPDATE ON credit_leases FOR EACH ROW EXECUTE FUNCTION count_lease_write();`);
}

/** The writes and rows of credit_leases of scopes naming one of `ids` (an account, a key). */
async function leaseTraces(ids: string[]): Promise<{ writes: number; rows: number }> {
  const like = ids.map((id) => `%${id}%`);
  const [w] = await pg.cluster.sql`SELECT count(*)::int AS n FROM lease_writes WHERE scope LIKE ANY(${like}::text[])`;
  const [r] = await pg.cluster.sql`SELECT count(*)::int AS n FROM credit_leases WHERE scope LIKE ANY(${like}::text[])`;
  return { writes: w.n, rows: r.n };
}

type Me = { balance_micros: number; available_micros: number; key: { spend_cap_micros: number; spent_micros: number }; budgets: { remaining_micros: number }[] };

test("GET /v1/me and the portal overview of an account write no lease, and show its balance, cap and budget", async () => {
  await countLeaseWrites();
  const gw = pg.cluster.gateways[0]!;
  const c = await gw.customer(5_000_000, { spend_cap_micros: 2_000_000, budget: { period: "month", amount_micros: 1_000_000 } });
  const inv = (await (await gw.admin(`/admin/accounts/${c.accountId}/invite`, { body: {} })).json()) as { url: string };
  const portal = new WebClient(gw.url);
  const path = new URL(inv.url).pathname;
  const PASSWORD = "correct horse battery staple";
  expect((await portal.submit(path, path, { email: "views@example.com", password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
  const before = await leaseTraces([c.accountId, c.keyId]);
  const shown: unknown[] = [];
  for (let i = 0; i < 3; i++) {
    const me = (await (await gw.me(c.key)).json()) as Me;
    shown.push({ balance: me.balance_micros, available: me.available_micros, cap: me.key.spend_cap_micros, spent: me.key.spent_micros, budget: me.budgets.map((b) => b.remaining_micros) });
    expect((await portal.page("/portal")).html).toContain(`title="${usd(5_000_000)}" data-testid="available"`);
  }
  const want = { balance: 5_000_000, available: 5_000_000, cap: 2_000_000, spent: 0, budget: [1_000_000] };
  expect({ shown, traces: await leaseTraces([c.accountId, c.keyId]) }).toEqual({ shown: [want, want, want], traces: before });
});
