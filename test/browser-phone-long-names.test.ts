import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { BrowserContext, Page } from "playwright-core";
import { launchBrowser, type Browser } from "./support/browser";
import { startGateway, type Gateway } from "./support/gateway";

/**
 * Names are free text without spaces as often as with (an id, a hostname, a base64 blob): such a
 * key or account name never pushes a page wider than a 390 px phone, where it is a heading, a
 * message ("Key “…” revoked"), the box that shows a new key once, or a filter's choice.
 */
let gw: Gateway;
let browser: Browser;
beforeAll(async () => {
  gw = await startGateway();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await gw?.stop();
});

const LONG = "svc.production.euwest1.internal.example.com.worker.pool" + "x".repeat(60);

async function phone(cookie: { name: string; value: string; path: string }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await context.addCookies([{ name: cookie.name, value: cookie.value, url: `${gw.url}${cookie.path}` }]);
  return { context, page: await context.newPage() };
}

const width = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth);

describe("long unbroken names on a 390 px phone", () => {
  test("portal: the keys list, a key's edit page, the new key's box and the revoked message fit", async () => {
    const c = await gw.customer(1_000_000, { name: LONG });
    const { context, page } = await phone({ name: "tg_portal", value: await gw.session("customer", c.accountId), path: "/portal" });
    const widths: Record<string, number> = {};
    for (const path of ["/portal", "/portal/keys", `/portal/keys/${c.keyId}/edit`, "/portal/usage"]) {
      await page.goto(gw.url + path);
      widths[path] = await width(page);
    }
    // Revoking it: the confirmation message on the next page.
    await page.goto(`${gw.url}/portal/keys`);
    await page.locator(`tr[data-key-id="${c.keyId}"]`).getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
    await page.getByRole("status").filter({ hasText: "revoked" }).waitFor();
    widths.revoked = await width(page);
    // A new key of such a name: shown once, in a box that says to copy it.
    await page.goto(`${gw.url}/portal/keys`);
    await page.getByLabel("Name", { exact: true }).fill(LONG.replace("svc", "new"));
    await page.getByRole("button", { name: "Create key" }).click();
    await page.getByText("now and store it somewhere safe").waitFor();
    widths["new key"] = await width(page);
    expect(widths).toEqual(Object.fromEntries(Object.keys(widths).map((k) => [k, 390])));
    await context.close();
  }, 60_000);

  test("console: an account's page, the accounts list and its usage fit", async () => {
    const c = await gw.customer(1_000_000, { name: LONG }, { name: `Org.${LONG}` });
    const { context, page } = await phone({ name: "tg_console", value: await gw.session("admin", null), path: "/console" });
    const widths: Record<string, number> = {};
    for (const path of [`/console/accounts/${c.accountId}`, "/console/accounts", `/console/usage?account=${c.accountId}`, `/console/margins?account=${c.accountId}`]) {
      await page.goto(gw.url + path);
      widths[path] = await width(page);
    }
    expect(widths).toEqual(Object.fromEntries(Object.keys(widths).map((k) => [k, 390])));
    await context.close();
  }, 60_000);

  test("console: past 500 accounts the Account filter is a text field, and its notes wrap too", async () => {
    const c = await gw.customer(1_000_000, { name: LONG }, { name: `Filter.${LONG}` });
    const ins = gw.runtime.deps.store.sqlite.prepare("INSERT INTO accounts (id, name, email, plan, status, balance_micros, lifetime_topup_micros, created_at) VALUES (?, ?, NULL, 'default', 'active', 0, 0, ?)");
    gw.runtime.deps.store.sqlite.transaction(() => {
      for (let i = 0; i < 505; i++) ins.run(`acc_bulk${String(i).padStart(5, "0")}`, `Bulk ${i}`, 1000 + i);
    })();
    const { context, page } = await phone({ name: "tg_console", value: await gw.session("admin", null), path: "/console" });
    const widths: Record<string, number> = {};
    // The chosen account's name as the field's hint, and text naming no account as its error.
    for (const path of [`/console/usage?account=${c.accountId}`, `/console/usage?account=nomatch${"y".repeat(150)}`, `/console/margins?account=${c.accountId}`]) {
      await page.goto(gw.url + path);
      expect(await page.locator("#f-account").evaluate((e) => e.tagName)).toBe("INPUT");
      widths[path.slice(0, 50)] = await width(page);
    }
    expect(widths).toEqual(Object.fromEntries(Object.keys(widths).map((k) => [k, 390])));
    await context.close();
  }, 60_000);
});
