import { afterAll, beforeAll, describe, expect, setDefaultTimeout, spyOn, test } from "bun:test";
import { startGateway, type Gateway, type GatewayClient } from "./support/gateway";
import { pgOverFake } from "./support/pg-gateways";

/**
 * PATCH /admin/accounts/:id (and the console's and the CLI's suspend and resume, which call the
 * same service) skips a change that changes nothing, as every other admin change does: suspending
 * a suspended account or renaming it to its own name answers the account as before, with no audit
 * entry and no durable commit. A change that changes some fields records only those. Both stores.
 * PUT /admin/accounts/:id/plan (the console's and the CLI's too) to the plan the account has is
 * the same: the plan's answer as before, no audit entry, no durable commit.
 */
setDefaultTimeout(60_000);

let sqlite: Gateway;
beforeAll(async () => { sqlite = await startGateway(); });
afterAll(() => sqlite.stop());
const pg = pgOverFake(1);

type Entry = { action: string; before: Record<string, unknown>; after: Record<string, unknown> };
const audited = async (gw: GatewayClient, id: string, action: string) =>
  ((await (await gw.admin(`/admin/audit?target_id=${id}`)).json()) as { data: Entry[] }).data.filter((e) => e.action === action);
const updates = (gw: GatewayClient, id: string) => audited(gw, id, "account.update");

/** PUT /admin/accounts/:id/plan: the plan's answer (200). "default" is the built-in plan every new account has. */
async function putPlan(gw: GatewayClient, id: string, plan: string) {
  const r = await gw.admin(`/admin/accounts/${id}/plan`, { method: "PUT", body: { plan } });
  expect(r.status).toBe(200);
  return (await r.json()) as { plan: string };
}

async function patch(gw: GatewayClient, id: string, body: Record<string, unknown>) {
  const r = await gw.admin(`/admin/accounts/${id}`, { method: "PATCH", body });
  expect(r.status).toBe(200);
  return (await r.json()) as { id: string; name: string; email: string | null; status: string };
}

for (const store of ["SQLite", "PostgreSQL"] as const) {
  const gateway = (): GatewayClient => (store === "SQLite" ? sqlite : pg.cluster.gateways[0]!);

  describe(`account updates that change nothing (${store})`, () => {
    test("suspending a suspended account, or renaming it to its name, records no audit entry", async () => {
      const gw = gateway();
      const c = await gw.customer(0);
      const first = await patch(gw, c.accountId, { status: "suspended" });
      expect(await patch(gw, c.accountId, { status: "suspended" })).toEqual(first);
      expect(await patch(gw, c.accountId, { name: first.name })).toEqual(first);
      expect(await patch(gw, c.accountId, { name: first.name, status: "suspended", email: first.email })).toEqual(first);
      expect(await patch(gw, c.accountId, {})).toEqual(first);
      const rows = await updates(gw, c.accountId);
      expect(rows.map((e) => [e.before, e.after])).toEqual([[{ status: "active" }, { status: "suspended" }]]);
    });

    test("a change of some of the fields given records only those", async () => {
      const gw = gateway();
      const c = await gw.customer(0);
      const before = await patch(gw, c.accountId, {});
      const after = await patch(gw, c.accountId, { name: before.name, status: "active", email: "billing@example.com" });
      expect(after).toEqual({ ...before, email: "billing@example.com" });
      const rows = await updates(gw, c.accountId);
      expect(rows.map((e) => [e.before, e.after])).toEqual([[{ email: before.email }, { email: "billing@example.com" }]]);
    });

    test("moving an account to the plan it has answers the plan as before and records no audit entry", async () => {
      const gw = gateway();
      const c = await gw.customer(0);
      const shown = await (await gw.admin(`/admin/accounts/${c.accountId}/plan`)).json();
      expect(await putPlan(gw, c.accountId, "default")).toEqual(shown);
      expect(await putPlan(gw, c.accountId, "default")).toEqual(shown);
      expect(await audited(gw, c.accountId, "account.plan")).toEqual([]);
      // Still checked first: an unknown plan or account is refused, not skipped.
      expect((await gw.admin(`/admin/accounts/${c.accountId}/plan`, { method: "PUT", body: { plan: "nope" } })).status).toBe(400);
      expect((await gw.admin("/admin/accounts/acc_nope/plan", { method: "PUT", body: { plan: "default" } })).status).toBe(404);
    });
  });
}

describe("a no-op update on SQLite", () => {
  test("is a read: no durable commit", async () => {
    const c = await sqlite.customer(0);
    await patch(sqlite, c.accountId, { status: "suspended" });
    const durable = spyOn(sqlite.runtime.deps.store, "durable");
    try {
      for (let i = 0; i < 5; i++) await patch(sqlite, c.accountId, { status: "suspended", name: "Test customer" });
      expect(durable.mock.calls.length).toBe(0);
      await patch(sqlite, c.accountId, { status: "active" });
      expect(durable.mock.calls.length).toBe(1);
    } finally {
      durable.mockRestore();
    }
  });

  test("a plan change to the plan the account has is a read: no durable commit", async () => {
    const c = await sqlite.customer(0);
    const durable = spyOn(sqlite.runtime.deps.store, "durable");
    try {
      for (let i = 0; i < 5; i++) expect((await putPlan(sqlite, c.accountId, "default")).plan).toBe("default");
      expect(durable.mock.calls.length).toBe(0);
    } finally {
      durable.mockRestore();
    }
  });
});
