/**
 * The console does what the admin API does, no more and no less: a new account with a refused
 * starting credit is not created, an adjustment schedules the low-balance check, paging and code
 * amounts are checked as the API checks them; and the API refuses alike what it refuses elsewhere.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN_TOKEN, startGateway, type Gateway } from "./support/gateway";
import { join } from "./support/teams";
import { WebClient } from "./support/web-client";

setDefaultTimeout(120_000);
let gw: Gateway;
let op: WebClient;
beforeAll(async () => {
  gw = await startGateway();
  op = new WebClient(gw.url);
  expect((await op.submit("/console/login", "/console/login", { token: ADMIN_TOKEN })).status).toBe(303);
});
afterAll(async () => {
  await gw?.stop();
});

const flashOf = (r: Response) => decodeURIComponent(r.headers.getSetCookie().find((c) => c.startsWith("tg_flash="))?.split(";")[0] ?? "");
const alertsOf = async (accountId: string) =>
  ((await (await gw.admin(`/admin/accounts/${accountId}/alerts/low-balance`)).json()) as { armed: boolean; recent: unknown[] });

describe("console accounts", () => {
  test("a new account whose starting credit is refused is not created", async () => {
    const res = await op.submit("/console/accounts", "/console/accounts", { name: "Too Rich Co", email: "", credit_usd: "2000000000" }, { referer: `${gw.url}/console/accounts` });
    expect(res.status).toBe(303);
    expect(flashOf(res)).toContain("balance is limited");
    const list = (await (await gw.admin("/admin/accounts?q=Too%20Rich")).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
    // A starting credit within the limit: the account and its credit, together.
    const ok = await op.submit("/console/accounts", "/console/accounts", { name: "Fine Co", email: "", credit_usd: "25" }, { referer: `${gw.url}/console/accounts` });
    expect(ok.status).toBe(303);
    const made = (await (await gw.admin("/admin/accounts?q=Fine%20Co")).json()) as { data: { id: string; balance_micros: number }[] };
    expect(made.data.map((a) => a.balance_micros)).toEqual([25_000_000]);
    expect(ok.headers.get("location")).toBe(`/console/accounts/${made.data[0]!.id}`);
  });

  test("a negative adjustment schedules the low-balance check, as the admin API's does", async () => {
    const api = await gw.customer(10_000_000);
    const con = await gw.customer(10_000_000);
    for (const c of [api, con]) {
      expect((await gw.admin(`/admin/accounts/${c.accountId}/alerts/low-balance`, { method: "PUT", body: { threshold_micros: 5_000_000 } })).status).toBe(200);
    }
    expect((await gw.admin(`/admin/accounts/${api.accountId}/credits`, { body: { amount_micros: -8_000_000, note: "api" } })).status).toBe(201);
    const page = `/console/accounts/${con.accountId}`;
    const html = await (await op.get(page)).text();
    const idem = /name="idem" value="([^"]+)"/.exec(html)?.[1] ?? "";
    const res = await op.submit(page, `${page}/credits`, { amount_usd: "-8", note: "console", idem }, { referer: gw.url + page });
    expect(res.status).toBe(303);
    expect(await gw.balance(con.accountId)).toBe(2_000_000);
    await Bun.sleep(50);
    await gw.runtime.deps.alerts?.settled();
    expect((await alertsOf(api.accountId)).recent.length).toBe(1);
    expect((await alertsOf(con.accountId)).recent.length).toBe(1);
  });

  test("the list's offset is read as the API reads it: a 400 page for what the API refuses, never a 500", async () => {
    expect((await gw.admin("/admin/accounts?offset=100000000000000000000")).status).toBe(400);
    for (const offset of ["1e20", "Infinity", "-1", "1.5", "100000000000000000000"]) {
      const res = await op.get(`/console/accounts?offset=${offset}`);
      expect({ offset, status: res.status }).toEqual({ offset, status: 400 });
      expect(await res.text()).toContain("offset");
    }
    for (const offset of ["", "0", "3", "9007199254740991"]) expect((await op.get(`/console/accounts?offset=${offset}`)).status).toBe(200);
  });
});

describe("console codes", () => {
  test("a code worth more than POST /admin/codes allows (1e12 micros) is refused with a message", async () => {
    expect((await gw.admin("/admin/codes", { body: { count: 1, amount_micros: 2e15 } })).status).toBe(400);
    const res = await op.submit("/console/codes", "/console/codes", { count: "1", amount_usd: "2000000000", expires: "", note: "" }, { referer: `${gw.url}/console/codes` });
    expect(res.status).toBe(303);
    expect(flashOf(res)).toContain("A code is worth at most 1000000 USD.");
    const codes = (await (await gw.admin("/admin/codes")).json()) as { data: { amount_micros: number }[] };
    expect(codes.data.filter((c) => c.amount_micros > 1e12)).toEqual([]);
    // The limit itself is allowed.
    const max = await op.submit("/console/codes", "/console/codes", { count: "1", amount_usd: "1000000", expires: "", note: "" }, { referer: `${gw.url}/console/codes` });
    expect(max.headers.get("location")).toMatch(/^\/console\/codes\?batch=/);
  });
});

describe("usage pagers", () => {
  test("console and portal: a junk `before` is a 400 page, as GET /admin/usage answers, not the first page again", async () => {
    expect((await gw.admin("/admin/usage?before=junk")).status).toBe(400);
    const c = await gw.customer(1_000_000);
    const owner = await join(gw, c.accountId, "owner", "pager-owner@example.com");
    for (const [who, path] of [[op, "/console/usage"], [owner.w, "/portal/usage"]] as const) {
      const bad = await who.get(`${path}?before=junk`);
      expect({ path, status: bad.status }).toEqual({ path, status: 400 });
      expect(await bad.text()).toContain("not a cursor from a previous page");
      expect((await who.get(`${path}?before=${Date.now()}:req_x`)).status).toBe(200);
      expect((await who.get(path)).status).toBe(200);
    }
  });
});

describe("admin API", () => {
  test("PUT /admin/keys/:id/limits refuses a revoked key with key_inactive, as PATCH /admin/keys/:id does", async () => {
    const c = await gw.customer(1_000_000);
    expect((await gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 5 } })).status).toBe(200);
    expect((await gw.admin(`/admin/keys/${c.keyId}`, { method: "DELETE" })).status).toBe(200);
    const patch = await gw.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { rpm: 4 } });
    expect(((await patch.json()) as { error: { code: string } }).error.code).toBe("key_inactive");
    const put = await gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 4 } });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { error: { code: string; param: string } }).error).toMatchObject({ code: "key_inactive", param: "id" });
    const limits = (await (await gw.admin(`/admin/keys/${c.keyId}/limits`)).json()) as { overrides: { rpm: number | null } };
    expect(limits.overrides.rpm).toBe(5);
  });

  test("GET /admin/usage?member_id=<unknown> is a 404 naming member_id", async () => {
    const res = await gw.admin("/admin/usage?member_id=mem_nope");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe("member_id");
  });

  // A mistyped id would otherwise read as an account or key with no usage: an empty invoice.
  test("an unknown account_id or key_id on the usage and margins reports is a 404 naming it", async () => {
    const c = await gw.customer(1_000_000);
    for (const route of ["/admin/usage", "/admin/margins", "/admin/margins.csv", "/admin/margins/losses"]) {
      for (const [param, id] of [["account_id", "acc_typo"], ["key_id", "key_typo"]]) {
        const res = await gw.admin(`${route}?${param}=${id}`);
        expect({ route, status: res.status }).toEqual({ route, status: 404 });
        expect(((await res.json()) as { error: { param: string; code: string } }).error).toMatchObject({ param, code: "not_found" });
      }
      expect((await gw.admin(`${route}?account_id=${c.accountId}&key_id=${c.keyId}`)).status).toBe(200);
    }
  });
});
