import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { launchBrowser, screenshot, type Browser } from "./support/browser";
import { startGateway, type Gateway } from "./support/gateway";
import { loadConfig } from "../src/config/load";

/**
 * Billing without Stripe: a customer out of credit is shown how to get more, with the operator's
 * words and contact link, and redeems a code right there.
 */
let gw: Gateway;
let browser: Browser;
beforeAll(async () => {
  gw = await startGateway({
    upstream: true,
    env: { TOLLGATE_BILLING_CONTACT_TEXT: "Credits are sold by invoice: write to us with the amount you need.", TOLLGATE_BILLING_CONTACT_URL: "mailto:billing@tollgate.test" },
  });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await gw?.stop();
});

describe("billing without Stripe in a browser", () => {
  test("the billing page offers a code and the operator's contact, and the code works", async () => {
    const acc = await gw.customer(0, {}, { name: "Broke Startup" });
    const batch = (await (await gw.admin("/admin/codes", { body: { count: 1, amount_micros: 7_500_000 } })).json()) as { codes: { code: string }[] };
    const context = await browser.newContext();
    await context.addCookies([{ name: "tg_portal", value: await gw.session("customer", acc.accountId), url: `${gw.url}/portal` }]);
    const page = await context.newPage();
    await page.goto(`${gw.url}/portal/billing`);
    expect(await page.getByRole("heading", { name: "Get credits" }).isVisible()).toBe(true);
    expect(await page.getByTestId("billing-contact-text").textContent()).toContain("Credits are sold by invoice");
    const link = page.getByTestId("billing-contact");
    expect(await link.getAttribute("href")).toBe("mailto:billing@tollgate.test");
    expect(await link.textContent()).toBe("Email billing@tollgate.test");
    await screenshot(page, "portal-billing-contact", { fullPage: true });
    await page.getByLabel("Credit code", { exact: true }).fill(batch.codes[0]!.code);
    await page.getByRole("button", { name: "Redeem" }).click();
    await page.waitForURL(/\/portal\/credits/);
    expect(await page.locator(".flash").first().textContent()).toContain("Code redeemed: $7.5 added");
    expect(await page.getByTestId("credits-balance").textContent()).toBe("$7.50");
    expect(browser.errors).toEqual([]);
    await context.close();
  });

  test("the contact URL must be http(s) or mailto", () => {
    expect(() => loadConfig({ env: { TOLLGATE_BILLING_CONTACT_URL: "javascript:alert(1)" } })).toThrow(
      "billing_contact_url (env TOLLGATE_BILLING_CONTACT_URL): an http(s):// or mailto: URL",
    );
  });
});
