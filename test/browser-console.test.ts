import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import type { Page } from "playwright-core";
import { insertUsage } from "../src/money/usage-row";
import { launchBrowser, screenshot, screenshotsEnabled, type Browser } from "./support/browser";
import { ADMIN_TOKEN, startGateway, type Gateway } from "./support/gateway";

/**
 * The operator story in a real browser: sign in to the console, create an account, invite the
 * customer, top up, create credit codes, the customer redeems one in the portal, and a suspended
 * account's key is refused at once.
 */
let gw: Gateway;
let browser: Browser;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await gw?.stop();
});

const PASSWORD = "correct horse battery staple";
const nav = (page: Page, name: string) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();
const flash = (page: Page) => page.locator(".flash").first().textContent();

async function confirm(page: Page, open: () => Promise<void>, action: string) {
  await open();
  const dialog = page.getByRole("dialog");
  await dialog.waitFor();
  await dialog.getByRole("button", { name: action }).click();
}

/** Other customers with some traffic, so the console screenshots show a business. */
async function seedBusiness() {
  const srv = gw;
  const names = ["Helios Health", "Quartz Legal AI", "Lumen Tutor", "Atlas Freight"];
  for (const [i, name] of names.entries()) {
    const acc = (await (await srv.admin("/admin/accounts", { body: { name, email: `billing@${name.split(" ")[0]!.toLowerCase()}.test` } })).json()) as { id: string };
    await srv.admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: (i + 1) * 40_000_000 } });
    const key = (await (await srv.admin(`/admin/accounts/${acc.id}/keys`, { body: { name: "prod" } })).json()) as { id: string; key: string };
    await new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: key.key, maxRetries: 0 }).chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "hi" }] });
    for (let d = 1; d < 20; d++) {
      insertUsage(srv.runtime.deps.store, {
        requestId: `req_biz_${i}_${d}`, accountId: acc.id, keyId: key.id, model: d % 3 ? "grok-4" : "grok-3", stream: true, status: d % 11 ? 200 : 502,
        promptTokens: 1000 * (i + 1) + d * 37, cachedTokens: 0, completionTokens: 300 + d * 11, reasoningTokens: 0,
        costMicros: (1000 * (i + 1) + d * 37) * 3 + (300 + d * 11) * 15, estimated: false, latencyMs: 700, ttftMs: 210,
        upstreamRequestId: null, errorCode: d % 11 ? null : "upstream_error", createdAt: Date.now() - d * 86_400_000,
      });
    }
  }
}

describe("operator console in a browser", () => {
  test("create, invite, top up, codes, a customer redeems one, suspend", async () => {
    const srv = gw;
    if (screenshotsEnabled()) await seedBusiness();
    const opContext = await browser.newContext();
    const op = await opContext.newPage();

    // Sign in with the admin token.
    await op.goto(`${srv.url}/console`);
    await op.waitForURL(/\/console\/login/);
    await op.getByLabel("Admin token").fill(ADMIN_TOKEN);
    await op.getByRole("button", { name: "Sign in" }).click();
    await op.waitForURL(`${srv.url}/console/accounts`);

    // Create an account.
    await op.getByLabel("Name", { exact: true }).fill("Orbit Robotics");
    await op.getByLabel("Email (optional)").fill("cto@orbit.test");
    await op.getByRole("button", { name: "Create account" }).click();
    await op.waitForURL(/\/console\/accounts\/acc_/);
    const accountId = op.url().split("/").pop()!;
    expect(await flash(op)).toContain("Account “Orbit Robotics” created");
    expect(await op.getByTestId("balance").textContent()).toBe("$0.00");

    // Invite: a one-time link, shown once with a copy button.
    await op.getByRole("button", { name: "Create invite link" }).click();
    const inviteUrl = (await op.locator("#invite-url").textContent())!;
    expect(inviteUrl).toStartWith(`${srv.url}/portal/invite/`);
    await op.getByRole("button", { name: "Copy" }).click();
    expect(await op.evaluate(() => navigator.clipboard.readText())).toBe(inviteUrl);

    // Top up with a note.
    await op.getByLabel("Amount in USD").fill("40");
    await op.getByLabel("Note").fill("Invoice 2025-014");
    await op.getByRole("button", { name: "Post" }).click();
    expect(await flash(op)).toContain("Top-up of $40 posted");
    expect(await op.getByTestId("balance").textContent()).toBe("$40.00");

    // Credit codes: a batch of five worth $10 each.
    await nav(op, "Credit codes");
    await op.getByLabel("How many").fill("5");
    await op.getByLabel("Worth (USD each)").fill("10");
    await op.getByLabel("Note").fill("Launch week");
    await op.getByRole("button", { name: "Create codes" }).click();
    const codes = (await op.locator("#new-codes").inputValue()).split("\n");
    expect(codes).toHaveLength(5);
    await screenshot(op, "console-codes", { fullPage: true });

    // The customer accepts the invite and redeems a code in the portal.
    const custContext = await browser.newContext();
    const cust = await custContext.newPage();
    await cust.goto(inviteUrl);
    expect(await cust.getByLabel("Email").inputValue()).toBe("cto@orbit.test");
    await cust.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await cust.getByLabel("Repeat password").fill(PASSWORD);
    await cust.getByRole("button", { name: "Create my login" }).click();
    await cust.waitForURL(`${srv.url}/portal`);
    expect(await cust.getByTestId("balance").textContent()).toBe("$40.00");
    await nav(cust, "Credits");
    await cust.getByRole("textbox", { name: "Code" }).fill(codes[0]!.toLowerCase());
    await cust.getByRole("button", { name: "Redeem" }).click();
    expect(await flash(cust)).toContain("Code redeemed: $10 added");
    expect(await cust.getByTestId("credits-balance").textContent()).toBe("$50.00");
    await nav(cust, "API keys");
    await cust.getByLabel("Name").fill("robot fleet");
    await cust.getByRole("button", { name: "Create key" }).click();
    const key = (await cust.locator("#new-key").textContent())!;
    expect((await srv.me(key)).status).toBe(200);

    // The operator sees the redemption.
    await op.reload();
    expect(await op.locator("table", { hasText: "Launch week" }).textContent()).toContain("1 / 5");
    expect(await op.getByRole("table").last().textContent()).toContain(accountId);

    // Suspend: confirmation first; then the key is refused at once.
    await nav(op, "Accounts");
    await op.getByRole("link", { name: "Orbit Robotics" }).click();
    expect(await op.getByTestId("balance").textContent()).toBe("$50.00");
    await screenshot(op, "console-account", { fullPage: true });
    await op.getByRole("button", { name: "Suspend account" }).click();
    await op.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    expect((await srv.me(key)).status).toBe(200);
    await confirm(op, () => op.getByRole("button", { name: "Suspend account" }).click(), "Suspend");
    expect(await flash(op)).toContain("Account suspended");
    expect((await srv.me(key)).status).toBe(401);
    await cust.reload();
    expect(await cust.getByRole("alert").first().textContent()).toContain("suspended");

    // The rest of the console renders cleanly.
    await nav(op, "Accounts");
    await screenshot(op, "console-accounts", { fullPage: true });
    await nav(op, "Usage");
    expect(await op.getByTestId("total-requests").textContent()).not.toBe("");
    await screenshot(op, "console-usage");
    await nav(op, "Models & prices");
    expect(await op.getByRole("table").textContent()).toContain("grok-4");
    await nav(op, "Upstream health");
    expect(await op.getByRole("table").first().textContent()).toContain("fake#1");
    await screenshot(op, "console-health", { fullPage: true });
    await nav(op, "Audit log");
    const audit = (await op.getByRole("table").textContent())!;
    for (const action of ["account.create", "account.invite", "credits.topup", "codes.create", "credits.redeem", "account.update"]) expect(audit).toContain(action);
    await screenshot(op, "console-audit");

    await custContext.close();
    await opContext.close();
    expect(browser.errors).toEqual([]);
  }, 120_000);
});
