import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { insertAccount } from "../src/modules/accounts/service";
import { insertKey } from "../src/modules/keys/service";
import { insertUsage } from "../src/money/usage-row";
import type { Q } from "../src/store/work";
import { launchBrowser, type Browser } from "./support/browser";
import { startGateway, type Gateway } from "./support/gateway";

/**
 * The console's Usage and Margins filters with more accounts and keys than a select lists (500):
 * an older account or key chosen by a link stays chosen, is named in the field and the tables,
 * and the next Apply keeps it; the field takes a name typed in place of an id, and text naming no
 * single account is said so and matches nothing, never every account's usage.
 */
let gw: Gateway;
let browser: Browser;
type Made = { accountId: string; keyId: string };
let oldest: Made;
let other: Made;
beforeAll(async () => {
  gw = await startGateway();
  browser = await launchBrowser();
  const store = gw.runtime.deps.store;
  const t0 = Date.now() - 3_600_000;
  // One account with one key each, the oldest first: 502 of both, in one transaction.
  function* make(q: Q, name: string, at: number) {
    const a = yield* insertAccount(q, { name }, "admin:test", at);
    const k = yield* insertKey(q, { prefix: "sk-tg-", accountId: a.id, input: { name: `${name} key` }, actor: "admin:test" }, at);
    return { accountId: a.id, keyId: k.row.id };
  }
  const made = await store.tx(function* (q) {
    const out = [yield* make(q, "Oldest Customer Inc", t0), yield* make(q, "Some Other Customer", t0 + 1)];
    for (let i = 0; i < 500; i++) out.push(yield* make(q, `Newer ${i}`, t0 + 10 + i));
    return out;
  });
  [oldest, other] = made as [Made, Made];
  for (const [i, c] of made.slice(0, 2).entries()) {
    insertUsage(store, {
      requestId: `req_long_${i}`, accountId: c.accountId, keyId: c.keyId, model: "grok-4", stream: false, status: 200, promptTokens: 10, cachedTokens: 0,
      completionTokens: 5, reasoningTokens: 0, costMicros: 1234, estimated: false, latencyMs: 50, ttftMs: null, upstreamRequestId: null, errorCode: null,
      createdAt: Date.now() - 1000, upstreamCostMicros: 1000,
    });
  }
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gw?.stop();
});

async function consolePage(): Promise<Page> {
  const context = await browser.newContext();
  await context.addCookies([{ name: "tg_console", value: await gw.session("admin", null), url: `${gw.url}/console` }]);
  return context.newPage();
}

const apply = async (page: Page, wanted: RegExp) => {
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForURL(wanted);
  return new URL(page.url()).searchParams;
};

describe("console filters past 500 accounts and keys", () => {
  test("usage: an account older than the newest 500 keeps its filter and its name", async () => {
    const page = await consolePage();
    // From the account's page, "Usage →".
    await page.goto(`${gw.url}/console/accounts/${oldest.accountId}`);
    await page.getByRole("link", { name: "Usage →" }).click();
    await page.waitForURL(/\/console\/usage\?account=/);
    const selected = await page.getByLabel("Account", { exact: true }).inputValue();
    const named = await page.getByRole("table", { name: "Requests" }).locator("a[href^='/console/accounts/']").allTextContents();
    // Then narrow by model and Apply, as the form invites.
    await page.getByLabel("Model", { exact: true }).selectOption("grok-4");
    const afterApply = (await apply(page, /model=grok-4/)).get("account");
    expect({ selected, named, afterApply }).toEqual({ selected: oldest.accountId, named: ["Oldest Customer Inc"], afterApply: oldest.accountId });
    await page.context().close();
  }, 60_000);

  test("usage: the Account field takes a name; text naming no single account matches nothing", async () => {
    const page = await consolePage();
    await page.goto(`${gw.url}/console/usage`);
    const field = page.getByLabel("Account", { exact: true });
    await field.fill("oldest customer inc");
    await apply(page, /account=/);
    // Read as the account's id, which the next Apply and the pager's links carry.
    expect(await field.inputValue()).toBe(oldest.accountId);
    expect(await page.locator("#f-account-note").textContent()).toBe("Oldest Customer Inc");
    expect(await page.getByTestId("total-requests").textContent()).toBe("1");

    // A name that other names contain ("Newer 1" in "Newer 10"…) is that account.
    await field.fill("newer 1");
    await apply(page, /account=newer/);
    expect(await page.locator("#f-account-note").textContent()).toBe("Newer 1");

    await field.fill("Newer");
    expect((await apply(page, /account=Newer/)).get("account")).toBe("Newer");
    expect(await page.getByRole("alert").textContent()).toContain("Several accounts match “Newer”");
    expect(await page.getByTestId("total-requests").textContent()).toBe("0");
    await page.context().close();
  }, 60_000);

  test("margins: an old account and its key stay chosen, named, and kept by Apply", async () => {
    const page = await consolePage();
    await page.goto(`${gw.url}/console/margins?account=${oldest.accountId}&key=${oldest.keyId}`);
    const account = await page.getByLabel("Account", { exact: true }).inputValue();
    const key = await page.getByLabel("Key", { exact: true }).inputValue();
    const keyOption = await page.getByLabel("Key", { exact: true }).locator("option:checked").textContent();
    await page.getByLabel("Group by").selectOption("account");
    const after = await apply(page, /group=account/);
    const table = await page.getByRole("table", { name: "Margins by account" }).textContent();
    expect({ account, key, keyOption, after: [after.get("account"), after.get("key")], named: table!.includes("Oldest Customer Inc"), other: table!.includes("Some Other") })
      .toEqual({ account: oldest.accountId, key: oldest.keyId, keyOption: "Oldest Customer Inc key", after: [oldest.accountId, oldest.keyId], named: true, other: false });

    // Every account's keys (502) are too many for a select: the Key field takes an id or a name.
    await page.goto(`${gw.url}/console/margins?key=${oldest.keyId}`);
    expect(await page.getByLabel("Key", { exact: true }).inputValue()).toBe(oldest.keyId);
    expect(await page.locator("#f-key-note").textContent()).toBe("Oldest Customer Inc key");
    await page.getByLabel("Key", { exact: true }).fill("Some Other Customer key");
    await apply(page, /key=/);
    expect(await page.getByLabel("Key", { exact: true }).inputValue()).toBe(other.keyId);
    expect(await page.locator("#f-key-note").textContent()).toBe("Some Other Customer key");
    await page.context().close();
  }, 60_000);
});
