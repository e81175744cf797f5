import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { insertUsage } from "../src/money/usage-row";
import { ADMIN_TOKEN, startGateway, type Gateway } from "./support/gateway";
import { csrfOf, WebClient } from "./support/web-client";

let srv: Gateway;
let op: WebClient;
beforeAll(async () => {
  srv = await startGateway();
  op = new WebClient(srv.url);
  const r = await op.submit("/console/login", "/console/login", { token: ADMIN_TOKEN });
  expect(r.status).toBe(303);
});
afterAll(() => srv.stop());

const flash = (w: WebClient) => decodeURIComponent(w.cookies.get("tg_flash") ?? "");

async function createAccount(name: string, extra: Record<string, string> = {}) {
  const r = await op.submit("/console/accounts", "/console/accounts", { name, email: "", plan: "default", credit_usd: "", ...extra });
  expect(r.status).toBe(303);
  return r.headers.get("location")!.split("/").pop()!;
}

describe("console sign-in", () => {
  test("the admin token opens a console session; a wrong one does not", async () => {
    const w = new WebClient(srv.url);
    expect((await w.get("/console/accounts")).headers.get("location")).toBe("/console/login?next=%2Fconsole%2Faccounts");
    expect((await w.submit("/console/login", "/console/login", { token: "not-the-admin-token" })).status).toBe(401);
    const ok = await w.submit("/console/login", "/console/login", { token: ADMIN_TOKEN, next: "/console/codes" });
    expect(ok.headers.get("location")).toBe("/console/codes");
    expect(ok.headers.getSetCookie().find((c) => c.startsWith("tg_console="))).toContain("Path=/console");
    // A customer session is not an operator session.
    const customer = new WebClient(srv.url);
    customer.cookies.set("tg_portal", w.cookies.get("tg_console")!);
    expect((await customer.get("/portal")).status).toBe(303);
  });

  test("forms need the session's CSRF token", async () => {
    expect((await op.post("/console/accounts", { name: "x" })).status).toBe(403);
  });
});

describe("running the business from the console", () => {
  test("create an account with starting credit, invite, top up, adjust, change plan, suspend and reactivate", async () => {
    const id = await createAccount("Acme Corp", { email: "ops@acme.test", credit_usd: "12.50" });
    const detail = await op.page(`/console/accounts/${id}`);
    expect(detail.html).toContain("Acme Corp");
    expect(detail.html).toMatch(/data-testid="balance">\$12.50</);

    const inv = await op.submit(`/console/accounts/${id}`, `/console/accounts/${id}/invite`, {});
    expect(inv.status).toBe(303);
    const url = /id="invite-url">([^<]+)</.exec((await op.page(`/console/accounts/${id}`)).html)![1]!;
    expect(url).toStartWith(`${srv.url}/portal/invite/`);
    expect((await fetch(url)).status).toBe(200);

    const page = await op.page(`/console/accounts/${id}`);
    const idem = /name="idem" value="([^"]+)"/.exec(page.html)![1]!;
    const post = (amount: string, key = idem) => op.post(`/console/accounts/${id}/credits`, { _csrf: csrfOf(page.html), idem: key, amount_usd: amount, note: "invoice 17" });
    expect((await post("7.5")).status).toBe(303);
    expect(flash(op)).toContain("Top-up of $7.5 posted");
    expect((await post("7.5")).status).toBe(303);
    expect(flash(op)).toContain("already submitted");
    expect((await post("-2", "another-form")).status).toBe(303);
    const account = await srv.account(id);
    expect(account.balance_micros).toBe(18_000_000);
    const overdraw = await op.post(`/console/accounts/${id}/credits`, { _csrf: csrfOf(page.html), idem: "x3", amount_usd: "-1000" }, { referer: `${srv.url}/console/accounts/${id}` });
    expect(overdraw.status).toBe(303);
    expect(flash(op)).toContain("exceeds the available credit");

    const key = (await (await srv.admin(`/admin/accounts/${id}/keys`, { body: {} })).json()) as { key: string };
    expect((await srv.me(key.key)).status).toBe(200);
    expect((await op.submit(`/console/accounts/${id}`, `/console/accounts/${id}/status`, { status: "suspended" })).status).toBe(303);
    expect((await srv.me(key.key)).status).toBe(401);
    expect((await op.page(`/console/accounts/${id}`)).html).toContain("Reactivate account");
    await op.submit(`/console/accounts/${id}`, `/console/accounts/${id}/status`, { status: "active" });
    expect((await srv.me(key.key)).status).toBe(200);

    const audit = await op.page(`/console/audit?target=${id}`);
    for (const action of ["account.create", "account.invite", "credits.topup", "credits.adjustment", "account.update"]) expect(audit.html).toContain(action);
    expect(audit.html).toContain("admin:console");
  });

  test("plans: an unknown plan is refused with a message", async () => {
    const id = await createAccount("Plan test");
    const r = await op.submit(`/console/accounts/${id}`, `/console/accounts/${id}/plan`, { plan: "platinum" }, { referer: `${srv.url}/console/accounts/${id}` });
    expect(r.status).toBe(303);
    expect(flash(op)).toContain("Unknown plan");
    expect((await op.submit(`/console/accounts/${id}`, `/console/accounts/${id}/plan`, { plan: "default" })).status).toBe(303);
    expect(flash(op)).toContain("Plan set to default");
  });

  test("search finds accounts by name, email or id", async () => {
    const id = await createAccount("Zebra Labs", { email: "z@zebra.test" });
    expect((await op.page("/console/accounts?q=zebra")).html).toContain(id);
    expect((await op.page("/console/accounts?q=z%40zebra")).html).toContain("Zebra Labs");
    expect((await op.page("/console/accounts?q=nothing-matches-this")).html).toContain("No matching accounts");
  });

  test("code batches: created once, listed by batch, redeemed codes show who redeemed them", async () => {
    const r = await op.submit("/console/codes", "/console/codes", { count: "3", amount_usd: "5", note: "launch", expires: "" });
    expect(r.status).toBe(303);
    const html = (await op.page(r.headers.get("location")!)).html;
    const codes = html.match(/TG-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/g)!;
    expect(new Set(codes).size).toBe(3);
    const batch = /Codes in <span class="mono">(batch_[^<]+)</.exec(html)![1]!;
    const c = await srv.customer(0);
    await fetch(`${srv.url}/v1/credits/redeem`, {
      method: "POST", headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" }, body: JSON.stringify({ code: codes[0] }),
    });
    const list = await op.page(`/console/codes?batch=${batch}`);
    expect(list.html).not.toContain(codes[1]!);
    expect(list.html).toContain(c.accountId);
    expect(list.html).toMatch(/1 \/ 3/);
    const bad = await op.submit("/console/codes", "/console/codes", { count: "0", amount_usd: "5" });
    expect(bad.status).toBe(303);
    expect(flash(op)).toContain("between 1 and 1000");
  });

  test("usage across accounts with totals per account", async () => {
    const a = await srv.customer(0);
    const b = await srv.customer(0);
    const row = (accountId: string, cost: number, status = 200) => insertUsage(srv.runtime.deps.store, {
      requestId: `req_${Math.random().toString(36).slice(2)}`, accountId, keyId: null, model: "grok-4", stream: false, status, promptTokens: 10,
      cachedTokens: 0, completionTokens: 5, reasoningTokens: 0, costMicros: cost, estimated: false, latencyMs: 50, ttftMs: null,
      upstreamRequestId: null, errorCode: status >= 500 ? "upstream_error" : null, createdAt: Date.now(), upstream: "xai#1/grok-4-0709",
    });
    row(a.accountId, 1_000_000);
    row(a.accountId, 2_000_000);
    row(b.accountId, 500_000);
    row(b.accountId, 0, 502);
    const all = await op.page("/console/usage");
    expect(all.html).toContain(a.accountId);
    expect(all.html).toContain("$3.00");
    const onlyA = await op.page(`/console/usage?account=${a.accountId}`);
    expect(onlyA.html).toMatch(/data-testid="total-spend">\$3.00</);
    const health = await op.page("/console/health");
    expect(health.html).toContain("grok-4");
    expect(health.html).toContain("xai#1/grok-4-0709");
    expect(health.html).toContain("upstream_error");
  });

  test("models, health and audit pages render; unknown pages are HTML 404s", async () => {
    const models = await op.page("/console/models");
    expect(models.html).toContain("grok-4");
    expect(models.html).toContain("$1.25 / 1M");
    expect(models.html).toContain("$0.02 / image");
    expect((await op.page("/console/health")).html).toContain("Upstream keys");
    expect((await op.page("/console/audit")).res.status).toBe(200);
    const missing = await op.get("/console/accounts/acc_missing");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toContain("text/html");
  });
});

describe("console sign-in throttle (runs last: it pauses sign-in on this server)", () => {
  test("five wrong tokens pause sign-in, even for the right token", async () => {
    const w = new WebClient(srv.url);
    for (let i = 0; i < 5; i++) expect((await w.submit("/console/login", "/console/login", { token: `wrong-${i}` })).status).toBe(401);
    const blocked = await w.submit("/console/login", "/console/login", { token: ADMIN_TOKEN });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toMatch(/^\d+$/);
    // Existing sessions keep working.
    expect((await op.get("/console/accounts")).status).toBe(200);
  });
});
