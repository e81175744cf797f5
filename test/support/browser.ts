import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser as PwBrowser, type BrowserContext, type Page } from "playwright-core";

/** Debian's Chromium, installed by .ci/test (apt-get install chromium). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export interface Browser {
  browser: PwBrowser;
  /** Console errors and uncaught page errors seen so far, on every page of every context. */
  errors: string[];
  /** A fresh context (its own cookies): one per person in the story. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

/**
 * Headless Chromium (Playwright gives every launch a fresh temporary --user-data-dir). Every page
 * reports console errors and uncaught exceptions into `errors`, so tests can assert there are none.
 */
export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const errors: string[] = [];
  return {
    browser,
    errors,
    async newContext() {
      const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
      await context.grantPermissions(["clipboard-read", "clipboard-write"]);
      context.on("page", (page) => {
        page.on("console", (m) => {
          if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`);
        });
        page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
      });
      return context;
    },
    close: () => browser.close(),
  };
}

/** Screenshots into docs/ when TOLLGATE_SCREENSHOTS=1 (`bun run screenshots`); the viewport unless fullPage. */
export async function screenshot(page: Page, name: string, o: { fullPage?: boolean } = {}): Promise<void> {
  if (process.env.TOLLGATE_SCREENSHOTS !== "1") return;
  const dir = join(import.meta.dir, "..", "..", "docs");
  mkdirSync(dir, { recursive: true });
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: o.fullPage ?? false });
}

export const screenshotsEnabled = () => process.env.TOLLGATE_SCREENSHOTS === "1";
