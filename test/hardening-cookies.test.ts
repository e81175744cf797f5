import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, startGateway, type Gateway } from "./support/gateway";
import { csrfOf, WebClient } from "./support/web-client";

/**
 * What a browser (or anyone) sends in cookies and links is input: a malformed cookie must be
 * ignored rather than make every page a 500, a `next` link with characters a Location header
 * cannot carry must fall back to the default page, and behind TLS the flash cookie is Secure
 * like the session cookie.
 */
let srv: Gateway;
beforeAll(async () => {
  srv = await startGateway();
});
afterAll(() => srv.stop());

const PASSWORD = "correct horse battery";
const TLS = { "x-forwarded-proto": "https" };

async function portalUser() {
  const email = `c${Math.random().toString(36).slice(2)}@example.com`;
  const c = await srv.customer(1_000_000);
  const inv = (await (await srv.admin(`/admin/accounts/${c.accountId}/invite`, { body: { email } })).json()) as { url: string };
  const path = new URL(inv.url).pathname;
  const w = new WebClient(srv.url);
  expect((await w.submit(path, path, { email, password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
  return { ...c, w, email };
}

const flashCookieOf = (res: Response) => res.headers.getSetCookie().find((c) => c.startsWith("tg_flash="));

describe("malformed cookies and links", () => {
  test("a cookie that is not valid percent-encoding is ignored on every page", async () => {
    for (const cookie of ["tg_flash=%E0%A4%A", "tg_pre=%", "tg_portal=%zz", "junk=%; tg_console=%E2"]) {
      for (const path of ["/portal/login", "/console/login", "/portal/signup"]) {
        const res = await fetch(srv.url + path, { headers: { cookie }, redirect: "manual" });
        expect({ cookie, path, status: res.status < 500 }).toEqual({ cookie, path, status: true });
      }
    }
    const { w } = await portalUser();
    w.cookies.set("junk", "%zz%");
    for (const path of ["/portal", "/portal/keys", "/portal/usage", "/portal/credits"]) {
      const res = await w.get(path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
    }
  });

  test("a next link with U+2028 (or other characters a header cannot carry) falls back to the default page", async () => {
    const { email } = await portalUser();
    for (const next of ["/portal\u2028x", "/portal/keys\u2029", "/portal/é", "/portal\u0000"]) {
      const w = new WebClient(srv.url);
      expect((await w.get(`/portal/login?next=${encodeURIComponent(next)}`)).status).toBe(200);
      const res = await w.submit("/portal/login", "/portal/login", { email, password: PASSWORD, next });
      expect({ next, status: res.status, location: res.headers.get("location") }).toEqual({ next, status: 303, location: "/portal" });
    }
    const op = new WebClient(srv.url);
    const res = await op.submit("/console/login", "/console/login", { token: ADMIN_TOKEN, next: "/console/codes\u2028" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/console/accounts");
    // A plain path still works.
    const ok = await new WebClient(srv.url).submit("/console/login", "/console/login", { token: ADMIN_TOKEN, next: "/console/codes?batch=x" });
    expect(ok.headers.get("location")).toBe("/console/codes?batch=x");
  });
});

describe("the flash cookie behind TLS", () => {
  test("is Secure when the dashboard is reached over HTTPS, like the session cookie", async () => {
    const { w } = await portalUser();
    // A refused form (post/redirect/get with a message) and a sign-out.
    const { html } = await w.page("/portal/keys");
    const refused = await w.post("/portal/keys/key_none/rotate", { _csrf: csrfOf(html), grace_seconds: "12345" }, TLS);
    expect(refused.status).toBe(303);
    expect(flashCookieOf(refused)).toContain("; Secure");
    const out = await w.post("/portal/logout", { _csrf: csrfOf(html) }, TLS);
    expect(out.status).toBe(303);
    expect(flashCookieOf(out)).toContain("; Secure");

    const op = new WebClient(srv.url);
    expect((await op.submit("/console/login", "/console/login", { token: ADMIN_TOKEN })).status).toBe(303);
    const page = await op.page("/console/accounts");
    const logout = await op.post("/console/logout", { _csrf: csrfOf(page.html) }, TLS);
    expect(flashCookieOf(logout)).toContain("; Secure");
  });

  test("over plain HTTP it is not (the browser would drop it)", async () => {
    const { w } = await portalUser();
    const { html } = await w.page("/portal/keys");
    const out = await w.post("/portal/logout", { _csrf: csrfOf(html) });
    expect(flashCookieOf(out)).toBeDefined();
    expect(flashCookieOf(out)).not.toContain("Secure");
  });
});
