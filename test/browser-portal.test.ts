import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import type { Page } from "playwright-core";
import type { SettleRecord } from "../src/money/settle-journal";
import { SettleWriter } from "../src/money/settle-writer";
import { launchBrowser, screenshot, screenshotsEnabled, type Browser } from "./support/browser";
import { startGateway, type Gateway } from "./support/gateway";

/**
 * The customer story in a real browser against the real server: accept the invite, set a
 * password, sign in, create a key, call the API with it through the OpenAI SDK, see usage and
 * balance change, rotate, revoke, and the revoked key gets 401.
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
const sdk = (key: string) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
const ask = (key: string) => sdk(key).chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "Say hello" }] });

async function status401(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return 200;
  } catch (e) {
    return (e as { status?: number }).status;
  }
}

/** Follows a link of the main navigation. */
const nav = (page: Page, name: string) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true }).click();

/** Clicks a button that opens the confirmation dialog, then confirms with `action`. */
async function confirm(page: Page, open: () => Promise<void>, action: string) {
  await open();
  const dialog = page.getByRole("dialog");
  await expect(dialog.isVisible()).resolves.toBe(true);
  await dialog.getByRole("button", { name: action }).click();
}

/**
 * Thirty days of plausible history so the screenshots show a real chart, charged through the
 * settlement writer like real requests (ledger entries, usage rows, the balance), so that every
 * page agrees: spend, balance and ledger.
 */
function seedHistory(accountId: string, keyId: string) {
  const day = 86_400_000;
  const records: SettleRecord[] = [];
  for (let d = 29; d >= 1; d--) {
    const n = 2 + ((d * 7) % 5);
    for (let i = 0; i < n; i++) {
      const prompt = 800 + ((d * 131 + i * 977) % 2400);
      const completion = 200 + ((d * 71 + i * 313) % 900);
      const cost = prompt * 3 + completion * 15;
      const at = Date.now() - d * day - i * 3_600_000;
      const usage = {
        requestId: `req_seed_${d}_${i}`, accountId, keyId, model: i % 3 === 0 ? "grok-3" : "grok-4", stream: i % 2 === 0, status: 200,
        promptTokens: prompt, cachedTokens: i % 2 ? 256 : 0, completionTokens: completion, reasoningTokens: 0,
        costMicros: cost, estimated: false, latencyMs: 400 + ((d * i * 37) % 900), ttftMs: 180,
        upstreamRequestId: null, errorCode: null, createdAt: at,
      };
      records.push({ t: "settle", requestId: usage.requestId, accountId, keyId, amount: cost, charge: cost, persisted: false, extras: { note: usage.model, usage }, at });
    }
  }
  const db = gw.runtime.deps.store;
  // In time order, as real charges reach the ledger (its listings are newest first by entry).
  const written = new SettleWriter(db).commit(records.sort((a, b) => a.at - b.at));
  expect(written.outcomes.every((o) => o.ok)).toBe(true);
  // The writer's changes are "absorbed" (its owner updates its memos itself); this one is not, so
  // the gateway re-reads the balance like after any other process's write.
  db.sqlite.query("UPDATE accounts SET balance_micros = balance_micros WHERE id = ?").run(accountId);
}

describe("customer portal in a browser", () => {
  test("from invite link to a working key, spend in the portal, rotation and revocation", async () => {
    const srv = gw;
    const acc = (await (await srv.admin("/admin/accounts", { body: { name: "Nimbus Analytics", email: "dev@nimbus.test" } })).json()) as { id: string };
    await srv.admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: 25_000_000, note: "Welcome credit" } });
    const invite = (await (await srv.admin(`/admin/accounts/${acc.id}/invite`, { body: {} })).json()) as { url: string };

    const context = await browser.newContext();
    const page = await context.newPage();

    // Accept the invite and set a password: lands signed in on the overview.
    await page.goto(invite.url);
    expect(await page.getByLabel("Email").inputValue()).toBe("dev@nimbus.test");
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("Repeat password").fill(PASSWORD);
    await page.getByRole("button", { name: "Create my login" }).click();
    await page.waitForURL(`${srv.url}/portal`);
    expect(await page.getByRole("status").first().textContent()).toContain("Your password is set");
    expect(await page.getByTestId("balance").textContent()).toBe("$25.00");
    expect(await page.getByTestId("spend30").textContent()).toBe("$0.00");

    // Sign out and back in with the keyboard only.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${srv.url}/portal/login`);
    // The form's autofocus lands on the email field; under load that can trail the load event.
    await page.waitForFunction(() => document.activeElement?.getAttribute("name") === "email");
    await page.keyboard.type("dev@nimbus.test");
    await page.keyboard.press("Tab");
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press("Enter");
    await page.waitForURL(`${srv.url}/portal`);

    // Create a key: shown once, with a working copy button.
    await nav(page, "API keys");
    await page.getByLabel("Name").fill("Production server");
    await page.getByRole("button", { name: "Create key" }).click();
    const key = (await page.locator("#new-key").textContent())!;
    expect(key).toMatch(/^sk-tg-[0-9A-Za-z]{40}$/);
    await page.getByRole("button", { name: "Copy" }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
    await screenshot(page, "portal-keys", { fullPage: true });

    // Call the API with it through the OpenAI SDK.
    const reply = await ask(key);
    expect(reply.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(reply.usage!.total_tokens).toBeGreaterThan(0);

    // Spend and usage show in the portal.
    await nav(page, "Overview");
    // Summaries show cents; a small request's cost shows in the exact amount, on hover (title).
    const balance = (await page.getByTestId("balance").getAttribute("title"))!;
    expect(balance).not.toBe("$25.00");
    expect(Number(balance.replace(/[$,]/g, ""))).toBeLessThan(25);
    expect(await page.getByTestId("spend30").getAttribute("title")).not.toBe("$0.00");
    await page.locator("#usage-chart canvas").first().waitFor();
    await nav(page, "Usage");
    expect(await page.getByTestId("total-requests").textContent()).toBe("1");
    expect(await page.getByRole("table", { name: "Requests" }).locator("tbody tr").count()).toBe(1);
    expect(await page.getByRole("table", { name: "Requests" }).textContent()).toContain("grok-4");

    // Rotate (immediately): the old key gets 401, the replacement works.
    await nav(page, "API keys");
    const row = page.locator("tr", { hasText: "Production server" }).first();
    await row.getByLabel("When the old key stops working").selectOption("0");
    await confirm(page, () => row.getByRole("button", { name: "Rotate" }).click(), "Rotate key");
    await page.locator("#new-key").waitFor();
    const replacement = (await page.locator("#new-key").textContent())!;
    expect(replacement).not.toBe(key);
    expect(await status401(ask(key))).toBe(401);
    expect((await ask(replacement)).choices.length).toBe(1);

    // Revoke the replacement: refused at once.
    const active = page.locator("tr", { hasText: "active" }).first();
    await confirm(page, () => active.getByRole("button", { name: "Revoke" }).click(), "Revoke key");
    await page.getByText("revoked: it no longer works").waitFor();
    expect(await status401(ask(replacement))).toBe(401);

    if (screenshotsEnabled()) {
      // A fresh key and a month of history make the screenshots look like a real account.
      const made = (await (await srv.admin(`/admin/accounts/${acc.id}/keys`, { body: { name: "Staging" } })).json()) as { id: string; key: string };
      await ask(made.key);
      seedHistory(acc.id, made.id);
      await nav(page, "Overview");
      await page.locator("#usage-chart canvas").first().waitFor();
      await screenshot(page, "portal-overview", { fullPage: true });
      await nav(page, "Usage");
      await screenshot(page, "portal-usage");
      await nav(page, "Credits");
      await screenshot(page, "portal-credits", { fullPage: true });
      await nav(page, "Quickstart");
      await screenshot(page, "portal-quickstart", { fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await nav(page, "Overview");
      await page.locator("#usage-chart canvas").first().waitFor();
      await screenshot(page, "portal-mobile");
    }
    await context.close();
    expect(browser.errors).toEqual([]);
  }, 120_000);

  test("the quickstart and credits pages work without errors, and a wrong code is explained", async () => {
    const srv = gw;
    const acc = (await (await srv.admin("/admin/accounts", { body: { name: "Quiet Co" } })).json()) as { id: string };
    const invite = (await (await srv.admin(`/admin/accounts/${acc.id}/invite`, { body: { email: "q@quiet.test" } })).json()) as { url: string };
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(invite.url);
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("Repeat password").fill(PASSWORD);
    await page.getByRole("button", { name: "Create my login" }).click();
    await page.waitForURL(`${srv.url}/portal`);
    await nav(page, "Quickstart");
    await page.getByRole("tab", { name: "curl" }).click();
    expect(await page.locator("#panel-curl").isVisible()).toBe(true);
    expect(await page.locator("#panel-python").isVisible()).toBe(false);
    expect(await page.locator("#code-curl").textContent()).toContain(`${srv.url}/v1/chat/completions`);
    await nav(page, "Credits");
    await page.getByRole("textbox", { name: "Code" }).fill("TG-AAAA-BBBB-CCCC-DDDD");
    await page.getByRole("button", { name: "Redeem" }).click();
    expect(await page.getByRole("alert").textContent()).toContain("not valid");
    await context.close();
    expect(browser.errors).toEqual([]);
  }, 120_000);
});
