import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { insertUsage } from "../src/money/usage-row";
import { startGateway, type Gateway } from "./support/gateway";
import { csrfOf, WebClient } from "./support/web-client";

let srv: Gateway;
beforeAll(async () => {
  // Open sign-up (it needs SMTP and public_url now): test/hardening-signup.test.ts.
  srv = await startGateway();
});
afterAll(() => srv.stop());

const PASSWORD = "correct horse battery";

/** An account with credits and a signed-in portal client. */
async function signedIn(credits = 5_000_000, email = `u${Math.random().toString(36).slice(2)}@example.com`) {
  const c = await srv.customer(credits);
  const inv = (await (await srv.admin(`/admin/accounts/${c.accountId}/invite`, { body: { email } })).json()) as { url: string };
  const w = new WebClient(srv.url);
  const path = new URL(inv.url).pathname;
  const res = await w.submit(path, path, { email, password: PASSWORD, confirm: PASSWORD });
  expect(res.status).toBe(303);
  return { ...c, w, email, invitePath: path };
}

const newKeyOf = (html: string) => /id="new-key">([^<]+)</.exec(html)?.[1];

function usage(accountId: string, keyId: string, model: string, cost: number, at = Date.now()) {
  insertUsage(srv.runtime.deps.store, {
    requestId: `req_${Math.random().toString(36).slice(2)}`, accountId, keyId, model, stream: false, status: 200, promptTokens: 100,
    cachedTokens: 0, completionTokens: 50, reasoningTokens: 0, costMicros: cost, estimated: false, latencyMs: 120, ttftMs: null,
    upstreamRequestId: null, errorCode: null, createdAt: at,
  });
}

describe("the gateway's address", () => {
  test("/ leads a browser to the portal (which asks for a sign-in)", async () => {
    const root = await fetch(`${srv.url}/`, { redirect: "manual" });
    expect(root.status).toBe(303);
    expect(root.headers.get("location")).toBe("/portal");
    const portal = await fetch(`${srv.url}/`);
    expect(portal.url).toContain("/portal/login");
    expect(portal.headers.get("content-type")).toContain("text/html");
  });
});

describe("invite and sign-in", () => {
  test("the invite link sets a password once and signs the customer in with a safe cookie", async () => {
    const c = await srv.customer(0);
    const inv = (await (await srv.admin(`/admin/accounts/${c.accountId}/invite`, { body: {} })).json()) as { url: string; expires_at: number };
    expect(inv.url).toMatch(new RegExp(`^${srv.url}/portal/invite/[0-9A-Za-z]{40}$`));
    const w = new WebClient(srv.url);
    const path = new URL(inv.url).pathname;
    const page = await w.page(path);
    expect(page.res.status).toBe(200);
    expect(page.html).toContain("Test customer");

    const mismatch = await w.submit(path, path, { email: "new@example.com", password: PASSWORD, confirm: "something else" });
    expect(mismatch.status).toBe(400);
    expect(await mismatch.text()).toContain("The passwords do not match.");
    const short = await w.submit(path, path, { email: "new@example.com", password: "short", confirm: "short" });
    expect(short.status).toBe(400);

    const ok = await w.submit(path, path, { email: "New@Example.com", password: PASSWORD, confirm: PASSWORD });
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/portal");
    const cookie = ok.headers.getSetCookie().find((l) => l.startsWith("tg_portal="))!;
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Lax");
    expect(cookie).toContain("Path=/portal");
    const overview = await w.page("/portal");
    expect(overview.res.status).toBe(200);
    expect(overview.html).toContain("Your password is set.");
    expect((await w.page(path)).res.status).toBe(410);
  });

  test("sign-in: wrong password refused, right one works, and repeated failures are throttled", async () => {
    const { email } = await signedIn();
    const w = new WebClient(srv.url);
    const wrong = await w.submit("/portal/login", "/portal/login", { email, password: "nope nope nope" });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("The email or password is incorrect.");
    const ok = await w.submit("/portal/login", "/portal/login", { email: email.toUpperCase(), password: PASSWORD, next: "/portal/keys" });
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/portal/keys");
    for (let i = 0; i < 5; i++) expect((await w.submit("/portal/login", "/portal/login", { email, password: `bad ${i}` })).status).toBe(401);
    const blocked = await w.submit("/portal/login", "/portal/login", { email, password: PASSWORD });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    const unknown = await w.submit("/portal/login", "/portal/login", { email: "nobody@example.com", password: PASSWORD });
    expect(unknown.status).toBe(401);
  });

  test("pages need a session; sign-out ends it", async () => {
    const anon = new WebClient(srv.url);
    const r = await anon.get("/portal/usage?model=grok-4");
    expect(r.status).toBe(303);
    expect(r.headers.get("location")).toBe("/portal/login?next=%2Fportal%2Fusage%3Fmodel%3Dgrok-4");
    const { w } = await signedIn();
    const { html } = await w.page("/portal");
    const session = w.cookies.get("tg_portal")!;
    expect((await w.post("/portal/logout", { _csrf: csrfOf(html) })).status).toBe(303);
    const stale = new WebClient(srv.url);
    stale.cookies.set("tg_portal", session);
    expect((await stale.get("/portal")).status).toBe(303);
  });

  test("forms without the CSRF token or from another origin are refused", async () => {
    const { w, keyId } = await signedIn();
    expect((await w.post("/portal/keys", { name: "x" })).status).toBe(403);
    expect((await w.post(`/portal/keys/${keyId}/revoke`, { _csrf: "forged" })).status).toBe(403);
    const { html } = await w.page("/portal/keys");
    const cross = await w.post(`/portal/keys/${keyId}/revoke`, { _csrf: csrfOf(html) }, { origin: "https://evil.example" });
    expect(cross.status).toBe(403);
    const anon = new WebClient(srv.url);
    expect((await anon.post("/portal/login", { email: "a@b.c", password: "x", _csrf: "made-up" })).status).toBe(403);
  });
});

describe("keys in the portal", () => {
  test("create (shown once), use, rotate and revoke", async () => {
    const { w, accountId } = await signedIn();
    const created = await w.submit("/portal/keys", "/portal/keys", { name: "prod server", models: ["grok-4"], expires_in_days: "30", spend_cap_usd: "10" });
    expect(created.status).toBe(303);
    expect(created.headers.get("location")).toBe("/portal/keys");
    const key = newKeyOf((await w.page("/portal/keys")).html)!;
    expect(key).toMatch(/^sk-tg-/);
    const view = (await (await srv.me(key)).json()) as { account_id: string; key: { models: string[]; spend_cap_micros: number; expires_at: number } };
    expect(view.account_id).toBe(accountId);
    expect(view.key.models).toEqual(["grok-4"]);
    expect(view.key.spend_cap_micros).toBe(10_000_000);
    expect(view.key.expires_at).toBeGreaterThan(Date.now() / 1000 + 29 * 86400);
    const list = await w.page("/portal/keys");
    expect(list.html).not.toContain(key);
    expect(newKeyOf(list.html)).toBeUndefined();

    const keyId = /data-key-id="(key_[^"]+)"[\s\S]*?prod server/.exec(list.html)![1]!;
    const rotated = await w.submit("/portal/keys", `/portal/keys/${keyId}/rotate`, { grace_seconds: "0" });
    expect(rotated.status).toBe(303);
    const replacement = newKeyOf((await w.page("/portal/keys")).html)!;
    expect(replacement).toMatch(/^sk-tg-/);
    expect((await srv.me(key)).status).toBe(401);
    expect((await srv.me(replacement)).status).toBe(200);

    const after = await w.page("/portal/keys");
    const newId = /data-key-id="(key_[^"]+)"/.exec(after.html)![1]!;
    const revoked = await w.submit("/portal/keys", `/portal/keys/${newId}/revoke`, {});
    expect(revoked.status).toBe(303);
    expect((await srv.me(replacement)).status).toBe(401);
    expect((await w.page("/portal/keys")).html).toContain("revoked: it no longer works");
  });

  test("bad input is explained, not stored", async () => {
    const { w } = await signedIn();
    // The form comes back (400) with the reason next to the field, and what was typed.
    const bad = await w.submit("/portal/keys", "/portal/keys", { name: "x", models: ["no-such-model"] });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("Unknown model: no-such-model");
    const cap = await w.submit("/portal/keys", "/portal/keys", { name: "x", spend_cap_usd: "-3" });
    expect(cap.status).toBe(400);
    const html = await cap.text();
    expect(html).toContain("The spending cap must be a positive amount");
    expect(html).toContain('value="-3"');
    expect((await w.page("/portal/keys")).html.match(/data-key-id=/g)).toHaveLength(1);
  });
});

describe("a customer only ever sees and changes their own account", () => {
  test("another account's key cannot be revoked or rotated, and its usage never shows", async () => {
    const a = await signedIn();
    const b = await signedIn();
    usage(b.accountId, b.keyId, "grok-4", 777_777);
    usage(a.accountId, a.keyId, "grok-3", 111_111);

    const revoke = await a.w.submit("/portal/keys", `/portal/keys/${b.keyId}/revoke`, {});
    expect(revoke.status).toBe(303);
    expect(decodeURIComponent(a.w.cookies.get("tg_flash") ?? "")).toContain("not found");
    expect((await srv.me(b.key)).status).toBe(200);
    const rotate = await a.w.submit("/portal/keys", `/portal/keys/${b.keyId}/rotate`, { grace_seconds: "0" });
    expect(rotate.status).toBe(303);
    expect((await srv.me(b.key)).status).toBe(200);

    const usagePage = await a.w.page(`/portal/usage?key=${b.keyId}`);
    expect(usagePage.html).not.toContain("0.777777");
    const all = await a.w.page("/portal/usage");
    expect(all.html).toContain("$0.111111");
    expect(all.html).not.toContain("$0.777777");
    const csv = await (await a.w.get("/portal/usage.csv")).text();
    expect(csv).toContain(a.accountId);
    expect(csv).not.toContain(b.accountId);
    const keys = await a.w.page("/portal/keys");
    expect(keys.html).not.toContain(b.keyId);
    const credits = await a.w.page("/portal/credits");
    expect(credits.html).not.toContain(b.accountId);

    // A's session cookie is worthless on the console, and customer keys on admin routes.
    const asConsole = new WebClient(srv.url);
    asConsole.cookies.set("tg_console", a.w.cookies.get("tg_portal")!);
    expect((await asConsole.get("/console/accounts")).status).toBe(303);
  });
});

describe("usage, credits and quickstart", () => {
  test("usage filters by model and date, totals match, CSV exports the rows", async () => {
    const { w, accountId, keyId } = await signedIn();
    usage(accountId, keyId, "grok-4", 2_000_000);
    usage(accountId, keyId, "grok-3", 500_000);
    usage(accountId, keyId, "grok-4", 1_000_000, Date.parse("2020-01-02T10:00:00Z"));
    const all = await w.page("/portal/usage");
    expect(all.html).toMatch(/data-testid="total-spend">\$3.50</);
    const grok4 = await w.page("/portal/usage?model=grok-4");
    expect(grok4.html).toMatch(/data-testid="total-spend">\$3.00</);
    const day = await w.page("/portal/usage?from=2020-01-02&to=2020-01-02");
    expect(day.html).toMatch(/data-testid="total-requests">1</);
    const csv = await w.get("/portal/usage.csv?model=grok-4");
    expect(csv.headers.get("content-type")).toContain("text/csv");
    expect(csv.headers.get("content-disposition")).toContain("attachment");
    const lines = (await csv.text()).trim().split("\r\n");
    expect(lines[0]).toStartWith("created_at,request_id,account_id");
    expect(lines).toHaveLength(3);
    expect(lines.some((l) => l.includes(",2,") || l.includes(",2.0"))).toBe(true);
  });

  test("overview shows balance and a 30-day chart; the quickstart shows the base URL", async () => {
    const { w, accountId, keyId } = await signedIn(12_340_000);
    usage(accountId, keyId, "grok-4", 1_000);
    const o = await w.page("/portal");
    expect(o.html).toMatch(/data-testid="balance">\$12.34</);
    expect(o.html).toContain('id="chart-data"');
    expect(o.html).toContain("/assets/uplot.js");
    const q = await w.page("/portal/quickstart");
    expect(q.html).toContain(`${srv.url}/v1`);
    expect(q.html).toContain("from openai import OpenAI");
    expect(q.html).toContain("curl ");
  });

  test("redeeming a code in the portal credits the account and shows in the history", async () => {
    const { w, key } = await signedIn(0);
    const batch = (await (await srv.admin("/admin/codes", { body: { count: 1, amount_micros: 4_000_000 } })).json()) as { codes: { code: string }[] };
    const r = await w.submit("/portal/credits", "/portal/credits/redeem", { code: batch.codes[0]!.code });
    expect(r.status).toBe(303);
    const page = await w.page("/portal/credits");
    expect(page.html).toContain("Code redeemed: $4 added");
    expect(page.html).toContain("Credit code");
    expect(page.html).toMatch(/data-testid="credits-balance">\$4.00</);
    expect(((await (await srv.me(key)).json()) as { balance_micros: number }).balance_micros).toBe(4_000_000);
    const bad = await w.submit("/portal/credits", "/portal/credits/redeem", { code: "TG-0000-0000-0000-0000" });
    expect(bad.status).toBe(303);
    expect((await w.page("/portal/credits")).html).toContain("This credit code is not valid");
  });

  test("a suspended account can look but not change anything", async () => {
    const { w, accountId } = await signedIn();
    await srv.admin(`/admin/accounts/${accountId}`, { method: "PATCH", body: { status: "suspended" } });
    const o = await w.page("/portal");
    expect(o.html).toContain("This account is suspended");
    const r = await w.submit("/portal/keys", "/portal/keys", { name: "x" });
    expect(r.status).toBe(303);
    expect((await w.page("/portal/keys")).html).toContain("keys cannot be created");
    expect(((await (await srv.admin(`/admin/accounts/${accountId}/keys`)).json()) as { data: unknown[] }).data).toHaveLength(1);
  });

  test("assets are served from the binary with the right types, and pages forbid framing and inline scripts", async () => {
    for (const [path, type] of [["/assets/app.css", "text/css"], ["/assets/app.js", "text/javascript"], ["/assets/uplot.js", "text/javascript"], ["/assets/uplot.css", "text/css"]]) {
      const r = await fetch(srv.url + path);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toContain(type!);
      expect((await r.text()).length).toBeGreaterThan(500);
    }
    const login = await fetch(`${srv.url}/portal/login`);
    expect(login.headers.get("x-frame-options")).toBe("DENY");
    expect(login.headers.get("content-security-policy")).toContain("script-src 'self'");
  });
});
