import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { insertUsage } from "../src/money/usage-row";
import { cents, usd } from "../src/web/format";
import { launchBrowser, screenshot, type Browser } from "./support/browser";
import { ADMIN_TOKEN, startGateway, type Gateway } from "./support/gateway";

/**
 * The operator reads the margins in the console: totals in cents with the exact amount on hover,
 * a chart per day, the table by account (and key, with names), the requests that lost money, and
 * the CSV export; filters narrow every part.
 */
let gw: Gateway;
let browser: Browser;
const DAY = 86_400_000;
const today = Math.floor(Date.now() / DAY) * DAY;
let helios: { accountId: string; keyId: string };
let quartz: { accountId: string; keyId: string };

beforeAll(async () => {
  gw = await startGateway({ upstream: true });
  browser = await launchBrowser();
  helios = await gw.customer(50_000_000, { name: "production" }, { name: "Helios Health" });
  quartz = await gw.customer(20_000_000, { name: "batch jobs" }, { name: "Quartz Legal AI" });
  const store = gw.runtime.deps.store;
  store.write(() => {
    for (let d = 0; d < 21; d++) {
      for (const [i, c] of [helios, quartz].entries()) {
        const cost = 2_400_000 + d * 91_337 + i * 1_100_000;
        // Quartz's batch model runs on a thin price: a few requests cost more than they earned.
        const upstream = i === 1 && d % 6 === 0 ? cost + 180_250 : Math.floor(cost * (i ? 0.8 : 0.62));
        insertUsage(store, {
          requestId: `req_m_${d}_${i}`, accountId: c.accountId, keyId: c.keyId, model: i ? "grok-3" : "grok-4", stream: true, status: 200,
          promptTokens: 90_000, cachedTokens: 0, completionTokens: 9_000, reasoningTokens: 0, costMicros: cost, estimated: false,
          latencyMs: 800, ttftMs: 200, upstreamRequestId: null, errorCode: null, createdAt: today - d * DAY + 3_600_000,
          upstreamCostMicros: d === 3 && i === 0 ? null : upstream, overageMicros: i === 1 && d % 6 === 0 ? 120_000 : 0,
        });
      }
    }
  });
});
afterAll(async () => {
  await browser?.close();
  await gw?.stop();
});

async function signIn(page: Page) {
  await page.goto(`${gw.url}/console/login`);
  await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${gw.url}/console/accounts`);
}

describe("console margins in a browser", () => {
  test("totals, chart, groups, losses, filters and CSV", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Margins", exact: true }).click();
    await page.waitForURL(/\/console\/margins/);

    const api = (await (await gw.admin(`/admin/margins?from=${new Date(today - 29 * DAY).toISOString().slice(0, 10)}`)).json()) as any;
    const revenue = page.getByTestId("revenue");
    expect(await revenue.getAttribute("title")).toBe(usd(api.totals.revenue_micros));
    expect(await revenue.textContent()).toBe(cents(api.totals.revenue_micros));
    expect(await revenue.textContent()).toMatch(/^\$\d+\.\d{2}$/);
    expect(await page.getByTestId("unknown-cost").textContent()).toBe("1");
    expect(await page.getByTestId("losses").textContent()).toBe(String(api.totals.loss_requests));
    await page.locator("#margins-chart canvas").first().waitFor();
    expect(await page.getByRole("table", { name: "Margins by day" }).locator("tbody tr").count()).toBe(21);
    const lossRows = page.getByRole("table", { name: "Requests that lost money" }).locator("tbody tr");
    expect(await lossRows.count()).toBe(4);
    expect(await lossRows.first().textContent()).toContain("Quartz Legal AI");
    await screenshot(page, "console-margins", { fullPage: true });

    // By account, then one account's keys by name.
    await page.getByLabel("Group by").selectOption("account");
    await page.getByRole("button", { name: "Apply" }).click();
    const byAccount = page.getByRole("table", { name: "Margins by account" });
    await byAccount.waitFor();
    expect(await byAccount.locator("tbody tr").count()).toBe(2);
    await page.getByLabel("Group by").selectOption("key");
    await page.getByLabel("Account", { exact: true }).selectOption(quartz.accountId);
    await page.getByRole("button", { name: "Apply" }).click();
    const byKey = page.getByRole("table", { name: "Margins by key" });
    await byKey.waitFor();
    expect(await byKey.locator("tbody tr").count()).toBe(1);
    expect(await byKey.locator("tbody tr").first().textContent()).toContain("batch jobs");

    // The export has the same groups, exact to the micro.
    const href = (await page.getByRole("link", { name: "Export CSV" }).getAttribute("href"))!;
    const csv = await (await page.request.get(`${gw.url}${href}`)).text();
    const lines = csv.trim().split("\r\n");
    expect(lines[0]).toStartWith("key,label,requests,revenue_usd");
    expect(lines[1]).toStartWith(`${quartz.keyId},batch jobs,21,`);
    expect(browser.errors).toEqual([]);
    await context.close();
  });
});

describe("console usage in a browser", () => {
  test("requests show the key's name, with its id on hover", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page);
    await page.goto(`${gw.url}/console/usage?account=${quartz.accountId}`);
    const cell = page.getByRole("table", { name: "Requests" }).locator("tbody tr").first().locator("td").nth(3);
    expect(await cell.textContent()).toBe("batch jobs");
    expect(await cell.locator("span").getAttribute("title")).toBe(quartz.keyId);
    await context.close();
  });
});
