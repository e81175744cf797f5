/**
 * The console and the portal on PostgreSQL: an operator signs in with the admin token, a customer
 * through an invite; every page answers on the shared database, and a change made on one instance
 * (a console credit) shows on the other.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chat, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { ADMIN_TOKEN, type BinaryGateway, type Customer } from "./support/gateway";
import { startPgGateways, type PgCluster } from "./support/pg-gateways";
import { WebClient } from "./support/web-client";

setDefaultTimeout(120_000);
const PASSWORD = "correct horse battery staple";
let upstream: MockUpstream;
let cluster: PgCluster;
let a: BinaryGateway;
let b: BinaryGateway;
let c: Customer;

beforeAll(async () => {
  upstream = startFakeUpstream();
  cluster = await startPgGateways(2, { config: fakeCatalogue(upstream.url) });
  [a, b] = cluster.gateways as [BinaryGateway, BinaryGateway];
  c = await a.customer(5_000_000);
  for (let i = 0; i < 3; i++) expect((await chat(b.url, c.key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 12, completion_tokens: 3 } })).status).toBe(200);
});

afterAll(async () => {
  await cluster?.stop();
  await upstream?.stop();
});

describe("console and portal on PostgreSQL", () => {
  test("every console page answers; a credit made in the console of one instance shows on the other", async () => {
    const op = new WebClient(a.url);
    expect((await op.submit("/console/login", "/console/login", { token: ADMIN_TOKEN })).status).toBe(303);
    for (const path of ["/console/accounts", `/console/accounts/${c.accountId}`, "/console/usage", "/console/codes", "/console/margins", "/console/health", "/console/audit", "/console/models"]) {
      const p = await op.page(path);
      expect(p.res.status, path).toBe(200);
    }
    const before = await b.balance(c.accountId);
    const page = `/console/accounts/${c.accountId}`;
    const r = await op.submit(page, `/console/accounts/${c.accountId}/credits`, { amount_usd: "1.25", note: "console on pg" });
    expect(r.status).toBe(303);
    expect(await b.balance(c.accountId)).toBe(before + 1_250_000);
  });

  test("metrics and upstream health name the instance that answered", async () => {
    for (const [g, id] of [[a, "i0"], [b, "i1"]] as const) {
      const metrics = await (await fetch(`${g.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
      expect(metrics).toContain(`tollgate_instance_info{instance_id="${id}"} 1`);
      expect(((await (await g.admin("/admin/upstreams")).json()) as { instance: string }).instance).toBe(id);
    }
  });

  test("an invited customer signs in and sees overview, keys, usage and credits", async () => {
    const inv = (await (await a.admin(`/admin/accounts/${c.accountId}/invite`, { body: {} })).json()) as { url: string };
    const w = new WebClient(b.url);
    const path = new URL(inv.url).pathname;
    expect((await w.page(path)).res.status).toBe(200);
    const ok = await w.submit(path, path, { email: "pg@example.com", password: PASSWORD, confirm: PASSWORD });
    expect(ok.status).toBe(303);
    for (const p of ["/portal", "/portal/keys", "/portal/usage", "/portal/credits", "/portal/members"]) {
      const got = await w.page(p);
      expect(got.res.status, p).toBe(200);
    }
    const csv = await w.get("/portal/usage.csv");
    expect(csv.status).toBe(200);
    expect((await csv.text()).trim().split("\n").length).toBe(1 + 3);
  });
});
