/**
 * A dashboard form refused for one wrong field comes back (400) with everything that was typed and
 * the message next to that field, so the user fixes one field instead of filling the form in again:
 * the portal's new-key form, its key edit form (what was typed, not the key as stored) and the
 * console's new-account form. What comes back is escaped, and nothing was created or changed. A
 * decimal comma ("50,00") is read as the billing amount's is; an unclear one ("1.000,50") is refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { launchBrowser, type Browser } from "./support/browser";
import { startGateway, type Gateway } from "./support/gateway";
import { WebClient } from "./support/web-client";

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

/** A browser page signed in to the portal as the account's owner, or to the console. */
async function signedIn(kind: "customer" | "admin", accountId: string | null) {
  const context = await browser.newContext();
  const [cookie, path] = kind === "customer" ? ["tg_portal", "/portal"] : ["tg_console", "/console"];
  await context.addCookies([{ name: cookie, value: await gw.session(kind, accountId), url: `${gw.url}${path}` }]);
  return { context, page: await context.newPage() };
}

/** Clicks the form's button; the status of the POST's answer, once the page it led to has loaded. */
async function submit(page: Page, button: string) {
  const [answer] = await Promise.all([page.waitForResponse((r) => r.request().method() === "POST"), page.waitForEvent("load"), page.getByRole("button", { name: button }).click()]);
  return answer;
}

type KeyList = { data: { id: string; name: string; spend_cap_micros: number | null; models: string[] | null }[] };
const keysOf = async (accountId: string) => ((await (await gw.admin(`/admin/accounts/${accountId}/keys`)).json()) as KeyList).data;

describe("a refused form keeps what was typed", () => {
  test("portal: Create key with a mistyped spending cap keeps name, models and expiry; a decimal comma is read", async () => {
    const c = await gw.customer(1_000_000);
    const model = gw.config.models[0]!.id;
    const { context, page } = await signedIn("customer", c.accountId);
    await page.goto(`${gw.url}/portal/keys`);
    await page.getByLabel("Name").fill("Billing service, EU");
    await page.getByRole("checkbox", { name: model, exact: true }).check();
    await page.getByLabel("Expires").selectOption("90");
    await page.getByLabel("Spending cap (USD, optional)").fill("5O");
    const answer = await submit(page, "Create key");
    const cap = page.getByLabel("Spending cap (USD, optional)");
    expect({
      name: await page.getByLabel("Name").inputValue(),
      model: await page.getByRole("checkbox", { name: model, exact: true }).isChecked(),
      expiry: await page.getByLabel("Expires").inputValue(),
      cap: await cap.inputValue(),
    }).toEqual({ name: "Billing service, EU", model: true, expiry: "90", cap: "5O" });
    expect(answer.status()).toBe(400);
    expect(await page.getByRole("alert").textContent()).toContain("The spending cap must be a positive amount");
    expect(await cap.getAttribute("aria-invalid")).toBe("true");
    expect(await cap.getAttribute("aria-describedby")).toContain("key-cap-err");
    expect((await keysOf(c.accountId)).length).toBe(1);

    // Only the cap needs fixing; "50,00" is 50 USD.
    await cap.fill("50,00");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.locator("#new-key").waitFor();
    const made = (await keysOf(c.accountId)).find((k) => k.name === "Billing service, EU");
    expect(made).toMatchObject({ spend_cap_micros: 50_000_000, models: [model] });
    await context.close();
  }, 60_000);

  test("console: New account with an unclear starting credit keeps name, email and plan; nothing is created", async () => {
    const before = ((await (await gw.admin("/admin/accounts?limit=200")).json()) as { data: unknown[] }).data.length;
    const { context, page } = await signedIn("admin", null);
    await page.goto(`${gw.url}/console/accounts`);
    await page.getByLabel("Name", { exact: true }).fill("Müller & Söhne <GmbH>");
    await page.getByLabel("Email (optional)").fill("billing@mueller.test");
    await page.getByLabel("Starting credit, USD (optional)").fill("1.000,50");
    const answer = await submit(page, "Create account");
    expect({
      name: await page.getByLabel("Name", { exact: true }).inputValue(),
      email: await page.getByLabel("Email (optional)").inputValue(),
      credit: await page.getByLabel("Starting credit, USD (optional)").inputValue(),
    }).toEqual({ name: "Müller & Söhne <GmbH>", email: "billing@mueller.test", credit: "1.000,50" });
    expect(answer.status()).toBe(400);
    expect(await page.getByRole("alert").textContent()).toContain("The starting credit must be an amount in USD");
    expect(await page.getByLabel("Starting credit, USD (optional)").getAttribute("aria-invalid")).toBe("true");
    expect(((await (await gw.admin("/admin/accounts?limit=200")).json()) as { data: unknown[] }).data.length).toBe(before);
    // The refused forms' 400s are logged by Chromium; nothing else went wrong on the pages (no script errors).
    expect(browser.errors.filter((e) => !e.includes("status of 400"))).toEqual([]);
    await context.close();
  }, 60_000);

  test("portal: the key edit form comes back as typed, not as stored, and the key is unchanged", async () => {
    const c = await gw.customer(1_000_000, { name: "stored name" });
    const { context, page } = await signedIn("customer", c.accountId);
    await page.goto(`${gw.url}/portal/keys/${c.keyId}/edit`);
    await page.getByLabel("Name").fill("typed name");
    await page.getByLabel("Spending cap (USD)").fill("12,5");
    await page.getByLabel("Budget (USD)").fill("lots");
    await page.getByLabel("Budget period").selectOption("week");
    const answer = await submit(page, "Save changes");
    const budget = page.getByLabel("Budget (USD)");
    expect({
      name: await page.getByLabel("Name").inputValue(),
      cap: await page.getByLabel("Spending cap (USD)").inputValue(),
      budget: await budget.inputValue(),
      period: await page.getByLabel("Budget period").inputValue(),
    }).toEqual({ name: "typed name", cap: "12,5", budget: "lots", period: "week" });
    expect(answer.status()).toBe(400);
    expect(await budget.getAttribute("aria-invalid")).toBe("true");
    expect(await page.locator("#f-budget_usd-err").textContent()).toContain("The budget must be a positive amount");
    expect((await keysOf(c.accountId))[0]).toMatchObject({ name: "stored name", spend_cap_micros: null });
    await context.close();
  }, 60_000);

  test("what comes back is escaped: markup typed in a field stays text", async () => {
    const c = await gw.customer(1_000_000);
    const w = new WebClient(gw.url);
    w.cookies.set("tg_portal", await gw.session("customer", c.accountId));
    const res = await w.submit("/portal/keys", "/portal/keys", { name: `"><img src=x onerror=alert(1)>`, spend_cap_usd: "<b>9</b>" });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('value="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"');
    expect(html).toContain('value="&lt;b&gt;9&lt;/b&gt;"');
    expect(html).not.toContain("<img src=x");
  });
});
