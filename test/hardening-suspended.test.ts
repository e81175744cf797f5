import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { launchBrowser } from "./support/browser";
import { startFakeStripe, type FakeStripe } from "./support/fake-stripe";
import { startGateway, type Gateway } from "./support/gateway";
import { csrfOf, WebClient } from "./support/web-client";

/**
 * A suspended account can sign in to the portal and look, but not change anything: no key
 * created, rotated or revoked, no code redeemed, no checkout started, no alert threshold set. Its
 * keys already get 401 on the API.
 */
let stripe: FakeStripe;
let srv: Gateway;
beforeAll(async () => {
  stripe = startFakeStripe();
  srv = await startGateway({ config: { ...stripe.config(), low_balance_threshold_usd: "1" } });
});
afterAll(async () => {
  await srv?.stop();
  await stripe?.stop();
});

const PASSWORD = "correct horse battery";
const flash = (res: Response) => decodeURIComponent(res.headers.getSetCookie().find((c) => c.startsWith("tg_flash="))?.split(";")[0]?.slice(9) ?? "");

describe("a suspended account is read-only in the portal", () => {
  test("every change is refused and nothing changes; pages still render", async () => {
    const email = "suspended@example.com";
    const c = await srv.customer(5_000_000);
    const inv = (await (await srv.admin(`/admin/accounts/${c.accountId}/invite`, { body: { email } })).json()) as { url: string };
    const path = new URL(inv.url).pathname;
    const w = new WebClient(srv.url);
    expect((await w.submit(path, path, { email, password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
    const code = ((await (await srv.admin("/admin/codes", { body: { count: 1, amount_micros: 2_000_000 } })).json()) as { codes: { code: string }[] }).codes[0]!.code;
    expect((await srv.admin(`/admin/accounts/${c.accountId}`, { method: "PATCH", body: { status: "suspended" } })).status).toBe(200);

    const keysBefore = await (await srv.admin(`/admin/accounts/${c.accountId}/keys`)).json();
    const stripeCalls = stripe.requests.length;
    const csrf = csrfOf((await w.page("/portal/keys")).html);
    const attempts: [string, Record<string, string>][] = [
      ["/portal/keys", { name: "new key" }],
      [`/portal/keys/${c.keyId}/rotate`, { grace_seconds: "0" }],
      [`/portal/keys/${c.keyId}/revoke`, {}],
      ["/portal/credits/redeem", { code }],
      ["/portal/billing/checkout", { amount: "25" }],
      ["/portal/billing/alert", { threshold_usd: "3" }],
      ["/portal/billing/alert", { reset: "1" }],
    ];
    const allowed: string[] = [];
    for (const [action, form] of attempts) {
      const res = await w.post(action, { _csrf: csrf, ...form });
      const message = res.status === 303 ? flash(res) : await res.text();
      if (!/suspended/i.test(message)) allowed.push(`${action} ${JSON.stringify(form)}: ${res.status} ${message.slice(0, 80)}`);
    }
    expect(allowed).toEqual([]);
    expect(await (await srv.admin(`/admin/accounts/${c.accountId}/keys`)).json()).toEqual(keysBefore);
    expect(((await (await srv.admin(`/admin/accounts/${c.accountId}`)).json()) as { balance_micros: number }).balance_micros).toBe(5_000_000);
    expect(stripe.requests.length).toBe(stripeCalls);
    const alert = (await (await srv.admin(`/admin/accounts/${c.accountId}/alerts/low-balance`)).json()) as { source: string };
    expect(alert.source).toBe("default");
    const redeemable = (await (await srv.admin("/admin/codes?status=available")).json()) as { data: unknown[] };
    expect(redeemable.data).toHaveLength(1);

    for (const page of ["/portal", "/portal/keys", "/portal/usage", "/portal/credits", "/portal/billing"]) {
      const res = await w.get(page);
      expect({ page, status: res.status }).toEqual({ page, status: 200 });
    }
    await inBrowser(w.cookies.get("tg_portal")!);
    // Sign-out still works.
    expect((await w.post("/portal/logout", { _csrf: csrf })).status).toBe(303);
  });
});

/** The same session in Chromium: every form that would change something is disabled or absent. */
async function inBrowser(session: string) {
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    const { hostname } = new URL(srv.url);
    await context.addCookies([{ name: "tg_portal", value: session, domain: hostname, path: "/portal", httpOnly: true, sameSite: "Lax" }]);
    const page = await context.newPage();
    await page.goto(`${srv.url}/portal/keys`);
    expect(await page.getByRole("button", { name: "Create key" }).isDisabled()).toBe(true);
    expect(await page.getByRole("button", { name: /Rotate|Revoke/ }).count()).toBe(0);
    await page.goto(`${srv.url}/portal/credits`);
    expect(await page.getByRole("button", { name: "Redeem" }).isDisabled()).toBe(true);
    await page.goto(`${srv.url}/portal/billing`);
    expect(await page.getByRole("button", { name: "Continue to payment" }).isDisabled()).toBe(true);
    expect(await page.getByRole("button", { name: "Save" }).isDisabled()).toBe(true);
    expect(browser.errors).toEqual([]);
  } finally {
    await browser.close();
  }
}
