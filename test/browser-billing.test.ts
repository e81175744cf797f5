import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { launchBrowser, type Browser } from "./support/browser";
import { paidSession, startFakeStripe, stripeEnv, type FakeStripe } from "./support/fake-stripe";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

/*
 * The portal's buy flow in a real browser (Debian's chromium through playwright-core), up to the
 * redirect to Stripe Checkout (the fake's hosted page) and back. The gateway runs as its own
 * process so that nothing from other test files' gateways is shared.
 */
let stripe: FakeStripe;
let gw: BinaryGateway;
let browser: Browser;
let url = "";
const errors: string[] = [];

beforeAll(async () => {
  stripe = startFakeStripe();
  gw = await startBinaryGateway({ entry: "source", dbPath: "t.db", stderr: "inherit", env: stripeEnv(stripe) });
  url = gw.url;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await gw.stop();
  await stripe.stop();
});

/** A browser context signed in to the portal of a new account. */
async function signedIn(email: string) {
  const acc = (await (await gw.admin("/admin/accounts", { body: { name: "Browser buyer", email } })).json()) as { id: string };
  const context = await browser.newContext();
  await context.addCookies([{ name: "tg_portal", value: await gw.session("customer", acc.id), url: `${url}/portal` }]);
  const page = await context.newPage();
  // CSP violations (a blocked form target, say) and script errors land here.
  // (The 400 is the re-rendered form of an invalid amount: expected.)
  page.on("console", (m) => m.type() === "error" && !m.text().includes("status of 400") && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  return { context, page, accountId: acc.id };
}

describe("portal: buy credits in a browser", () => {
  test("a preset goes to Stripe Checkout with the right amount; coming back shows the payment as paid", async () => {
    const { context, page, accountId } = await signedIn("browser@example.com");
    try {
      await page.goto(`${url}/portal`);
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Billing" }).click();
      await page.waitForURL(`${url}/portal/billing`);
      expect(await page.locator("h1").textContent()).toBe("Billing");
      const presets = page.getByTestId("preset");
      expect(await presets.count()).toBe(3);
      await page.getByRole("button", { name: /^25\.00 USD/ }).click();
      await page.waitForURL(/\/checkout\/cs_test_/);
      expect(page.url()).toStartWith(`${stripe.url}/checkout/`);
      const id = (await page.locator("#session").textContent())!;
      const sent = stripe.requests.find((r) => r.path === "/v1/checkout/sessions" && r.params["metadata[tollgate_account_id]"] === accountId)!;
      expect(sent.params).toMatchObject({
        "line_items[0][price_data][unit_amount]": "2500",
        "line_items[0][price_data][currency]": "usd",
        customer_email: "browser@example.com",
        cancel_url: `${url}/portal/billing?checkout=cancelled`,
      });

      // Stripe takes the payment and sends the browser back to the success URL.
      const session = stripe.sessions.get(id)!;
      stripe.sessions.set(id, paidSession(session));
      await page.goto(String(session.success_url).replace("{CHECKOUT_SESSION_ID}", id));
      expect(await page.locator(".flash.ok").textContent()).toContain("Payment received");
      expect(await page.getByTestId("billing-available").textContent()).toBe("$25.00");
      expect(await page.locator(`[data-status="paid"]`).count()).toBe(1);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test("a custom amount is checked in the page, then sent to Stripe in cents", async () => {
    const { context, page, accountId } = await signedIn("custom@example.com");
    try {
      await page.goto(`${url}/portal/billing`);
      await page.getByLabel(/Other amount/).fill("3");
      await page.getByRole("button", { name: "Continue to payment" }).click();
      await page.locator("#amount-err").waitFor();
      expect(await page.locator("#amount-err").textContent()).toContain("between 5.00 and 1000.00");
      expect(page.url()).toStartWith(url);

      await page.getByLabel(/Other amount/).fill("12.50");
      await page.getByRole("button", { name: "Continue to payment" }).click();
      await page.waitForURL(/\/checkout\/cs_test_/);
      const sent = stripe.requests.filter((r) => r.path === "/v1/checkout/sessions" && r.params["metadata[tollgate_account_id]"] === accountId);
      expect(sent.map((r) => r.params["line_items[0][price_data][unit_amount]"])).toEqual(["1250"]);

      // Cancelling on Stripe's page brings the customer back with nothing charged.
      await page.goto(`${url}/portal/billing?checkout=cancelled`);
      expect(await page.locator(".flash.warn").textContent()).toContain("Checkout cancelled");
      expect(await page.locator(`[data-status="pending"]`).count()).toBe(1);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
