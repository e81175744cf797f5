import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { BrowserContext, Page } from "playwright-core";
import { chat, user } from "./support/chat";
import { launchBrowser, screenshot, type Browser } from "./support/browser";
import { startGateway, type Gateway } from "./support/gateway";

/**
 * A team in a real browser: the owner invites a member from the Members page, the member joins
 * through the link, makes and edits a key within the plan, rotates it and finds it as one entry
 * in the usage filter; the owner sees it with whose it is, sets the member's budget and removes
 * them. Every page fits a 390 px phone without scrolling sideways.
 */
let gw: Gateway;
let browser: Browser;
beforeAll(async () => {
  gw = await startGateway({ upstream: true, config: { plans: { default: { rpm: 120, tpm: 1_000_000, concurrency: 10 } } } });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await gw?.stop();
});

const PASSWORD = "correct horse battery staple";
const nav = (page: Page, name: string) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();

async function confirm(page: Page, open: () => Promise<void>, action: string) {
  await open();
  await page.getByRole("dialog").getByRole("button", { name: action }).click();
}

/** Accepts an invite link in a new context and returns its page, signed in on the overview. */
async function acceptIn(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByLabel("Repeat password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create my login" }).click();
  await page.waitForURL(`${gw.url}/portal`);
  return page;
}

/** The document's width at a 390 px phone viewport on each path (the widest first when several). */
async function phoneWidths(page: Page, paths: string[]): Promise<Record<string, number>> {
  await page.setViewportSize({ width: 390, height: 844 });
  const out: Record<string, number> = {};
  for (const path of paths) {
    await page.goto(gw.url + path);
    out[path] = await page.evaluate(() => document.documentElement.scrollWidth);
  }
  await page.setViewportSize({ width: 1280, height: 860 });
  return out;
}

describe("a team in the browser", () => {
  test("invite, join, keys of one's own, edit within the plan, rotation lines, budget, removal, on a phone too", async () => {
    const acc = (await (await gw.admin("/admin/accounts", { body: { name: "Orbit Labs", email: "lead@orbit.test" } })).json()) as { id: string };
    await gw.admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: 20_000_000 } });
    const ownerInvite = (await (await gw.admin(`/admin/accounts/${acc.id}/invite`, { body: {} })).json()) as { url: string };
    const operatorKey = (await (await gw.admin(`/admin/accounts/${acc.id}/keys`, { body: { name: "Operator's key" } })).json()) as { id: string };

    const ownerCtx = await browser.newContext();
    const owner = await acceptIn(ownerCtx, ownerInvite.url);
    // The owner invites a member from the Members page; the link is shown once.
    await nav(owner, "Members");
    await owner.getByLabel("Email").fill("dev@orbit.test");
    await owner.getByLabel("Role").selectOption("member");
    await owner.getByRole("button", { name: "Send invite" }).click();
    const link = (await owner.locator("#invite-url").textContent())!;
    expect(link).toStartWith(`${gw.url}/portal/invite/`);
    expect(await owner.locator("tr", { hasText: "dev@orbit.test" }).textContent()).toContain("invited");

    // The member joins and sees only what a member may.
    const memberCtx = await browser.newContext();
    const member = await acceptIn(memberCtx, link);
    const links = await member.getByRole("navigation", { name: "Main" }).getByRole("link").allTextContents();
    expect(links).toEqual(["Overview", "API keys", "Usage", "Quickstart"]);
    await nav(member, "API keys");
    expect(await member.locator(`tr[data-key-id="${operatorKey.id}"]`).count()).toBe(0);
    await member.getByLabel("Name").fill("Dev laptop");
    await member.getByRole("button", { name: "Create key" }).click();
    const key = (await member.locator("#new-key").textContent())!;
    expect((await chat(gw.url, key, { model: "grok-4", messages: user("hi") })).status).toBe(200);

    // The member edits their key: a limit above the plan is refused, within it saved.
    await member.locator("tr", { hasText: "Dev laptop" }).getByRole("link", { name: /Edit/ }).click();
    // Above the plan: the form itself says so (max) and is not sent; the server refuses it too (keys-edit.test.ts).
    await member.getByLabel("Requests per minute").fill("500");
    await member.getByRole("button", { name: "Save changes" }).click();
    expect(await member.getByLabel("Requests per minute").evaluate((e) => (e as HTMLInputElement).validity.rangeOverflow)).toBe(true);
    expect(member.url()).toEndWith("/edit");
    expect(await member.getByText("Empty: the plan's 120. At most that.").count()).toBe(1);
    await member.getByLabel("Requests per minute").fill("60");
    await member.getByLabel("Budget (USD)").fill("2");
    await member.getByLabel("Budget period").selectOption("week");
    await member.getByRole("button", { name: "Save changes" }).click();
    await member.waitForURL(`${gw.url}/portal/keys`);
    expect(await member.getByTestId("key-budget").first().textContent()).toContain("$2.00 per week");
    const devKeyId = (await member.locator("tr", { hasText: "Dev laptop" }).getAttribute("data-key-id"))!;
    const saved = (await (await gw.admin(`/admin/keys/${devKeyId}`)).json()) as { budget: unknown };
    expect(saved).toMatchObject({ budget: { period: "week", amount_micros: 2_000_000 } });
    expect(((await (await gw.admin(`/admin/keys/${devKeyId}/limits`)).json()) as { overrides: { rpm: number } }).overrides.rpm).toBe(60);

    // Rotated keys keep their name: the usage filter lists the line once and filters all its keys.
    const row = member.locator("tr", { hasText: "Dev laptop" }).first();
    await row.getByLabel("When the old key stops working").selectOption("3600");
    await confirm(member, () => row.getByRole("button", { name: "Rotate" }).click(), "Rotate key");
    const replacement = (await member.locator("#new-key").textContent())!;
    expect((await chat(gw.url, replacement, { model: "grok-4", messages: user("again") })).status).toBe(200);
    await gw.runtime.deps.credits.flush();
    await nav(member, "Usage");
    const options = await member.getByLabel("Key").locator("option").allTextContents();
    expect(options.filter((o) => o.startsWith("Dev laptop"))).toHaveLength(1);
    expect(options.find((o) => o.startsWith("Dev laptop"))).toContain("(2 keys, rotated)");
    await member.getByLabel("Key").selectOption({ label: options.find((o) => o.startsWith("Dev laptop"))! });
    await member.getByRole("button", { name: "Apply" }).click();
    expect(await member.getByTestId("total-requests").textContent()).toBe("2");
    expect(await member.getByLabel("Member").count()).toBe(0);

    // The owner sees the member's keys with whose they are, and sets the member's budget.
    await nav(owner, "API keys");
    expect(await owner.locator("tr", { hasText: "Dev laptop" }).first().textContent()).toContain("dev@orbit.test");
    await nav(owner, "Usage");
    expect(await owner.getByLabel("Member").locator("option").allTextContents()).toContain("dev@orbit.test");
    await nav(owner, "Members");
    const devRow = owner.locator("tr", { hasText: "dev@orbit.test" });
    await devRow.getByLabel("Budget of dev@orbit.test in USD (empty: none)").fill("25");
    await devRow.getByRole("button", { name: "Set budget" }).click();
    expect(await owner.getByRole("status").first().textContent()).toContain("Budget of dev@orbit.test set.");
    expect(await owner.locator("tr", { hasText: "dev@orbit.test" }).textContent()).toContain("$25.00 per month");
    await screenshot(owner, "portal-members", { fullPage: true });

    // On a phone, no page scrolls sideways, for either role.
    const pages = ["/portal", "/portal/keys", `/portal/keys/${devKeyId}/edit`, "/portal/usage", "/portal/quickstart"];
    for (const [path, width] of Object.entries(await phoneWidths(member, pages))) expect([path, width]).toEqual([path, 390]);
    for (const [path, width] of Object.entries(await phoneWidths(owner, [...pages, "/portal/members", "/portal/credits"]))) expect([path, width]).toEqual([path, 390]);

    // The owner removes the member: their keys stop now and their next page is the sign-in.
    await nav(owner, "Members");
    const leaving = owner.locator("tr", { hasText: "dev@orbit.test" });
    await leaving.getByLabel("When dev@orbit.test's keys stop working").selectOption("0");
    await confirm(owner, () => leaving.getByRole("button", { name: "Remove" }).click(), "Remove member");
    expect(await owner.getByRole("status").first().textContent()).toContain("dev@orbit.test was removed");
    expect((await chat(gw.url, replacement, { model: "grok-4", messages: user() })).status).toBe(401);
    await member.goto(`${gw.url}/portal/keys`);
    await member.waitForURL(/\/portal\/login/);
    await ownerCtx.close();
    await memberCtx.close();
    expect(browser.errors).toEqual([]);
  }, 120_000);

  test("/portal/keys fits a 390 px phone with many keys and long names", async () => {
    const c = await gw.customer(1_000_000, { name: "A rather long key name for the production cluster in eu-west", models: ["grok-4", "grok-3", "cheap"], spend_cap_micros: 50_000_000 });
    for (let i = 0; i < 4; i++) await gw.key(c.accountId, { name: `worker-${i}`, budget: { period: "day", amount_micros: 1_000_000 } });
    const context = await browser.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await context.addCookies([{ name: "tg_portal", value: await gw.session("customer", c.accountId), url: `${gw.url}/portal` }]);
    const page = await context.newPage();
    await page.goto(`${gw.url}/portal/keys`);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    // Every cell is within the screen, the actions included.
    const overflowing = await page.evaluate(() =>
      [...document.querySelectorAll("main td, main .actions button, main .actions select")].filter((e) => e.getBoundingClientRect().right > 390).length);
    expect(overflowing).toBe(0);
    await screenshot(page, "portal-keys-phone", { fullPage: true });
    await context.close();
  }, 60_000);
});
