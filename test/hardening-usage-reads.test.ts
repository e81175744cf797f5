import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { USAGE_READS_PER_ACCOUNT } from "../src/modules/usage/reads";
import { chat, until, user } from "./support/chat";
import { startGateway, type Customer, type Gateway } from "./support/gateway";
import { join } from "./support/teams";
import type { WebClient } from "./support/web-client";

/**
 * GET /v1/usage sums the account's whole filtered range on every call (a long history: hundreds
 * of milliseconds of CPU). One account may have USAGE_READS_PER_ACCOUNT of them under way at
 * once; one more is a 429 in the OpenAI envelope with retry-after, and other accounts' usage
 * reads and chat requests are served meanwhile.
 */
setDefaultTimeout(60_000);

let gw: Gateway;
let a: Customer;
let b: Customer;
let portalOwner: WebClient;
const DAY = 86_400_000;
const ROWS = 200_000;

beforeAll(async () => {
  gw = await startGateway({ upstream: true });
  a = await gw.customer(10_000_000);
  b = await gw.customer(10_000_000);
  portalOwner = (await join(gw, a.accountId, "owner", "usage-reads@example.com")).w;
  // A's history: ROWS usage rows over the last 80 days (within the 90-day retention).
  const db = gw.runtime.deps.store.sqlite;
  const insert = db.prepare(
    `INSERT INTO usage_log (request_id, account_id, key_id, model, stream, status, prompt_tokens, cached_tokens, completion_tokens,
       reasoning_tokens, cost_micros, estimated, latency_ms, ttft_ms, upstream_request_id, error_code, created_at)
     VALUES (?, ?, ?, ?, 0, 200, 100, 0, 50, 0, 1000, 0, 120, NULL, NULL, NULL, ?)`,
  );
  const start = Date.now() - 80 * DAY;
  const step = Math.floor((80 * DAY) / ROWS);
  db.transaction(() => {
    for (let i = 0; i < ROWS; i++) insert.run(`req_reads_${String(i).padStart(7, "0")}`, a.accountId, a.keyId, i % 3 ? "grok-4" : "grok-3", start + i * step);
  })();
});
afterAll(() => gw?.stop());

const usage = (c: Customer, signal?: AbortSignal) => fetch(`${gw.url}/v1/usage`, { headers: { authorization: `Bearer ${c.key}` }, signal });

describe("usage reads one account may have under way", () => {
  test("a third concurrent /v1/usage of one account is a 429 (OpenAI envelope, retry-after: 1); another account's usage and chat are served", async () => {
    expect(USAGE_READS_PER_ACCOUNT).toBe(2);
    const first = [usage(a), usage(a)];
    // Both under way (each sums ROWS rows, in slices).
    await until(() => gw.runtime.deps.usageReads.count(a.accountId) === 2, 5_000, 1);
    const third = await usage(a);
    expect(third.status).toBe(429);
    expect(third.headers.get("retry-after")).toBe("1");
    expect(await third.json()).toEqual({
      error: { message: expect.stringContaining("Too many usage reads"), type: "requests", param: null, code: "too_many_usage_reads" },
    });
    // The portal's usage page sums the same range: it counts against the same two.
    const page = await portalOwner.get("/portal/usage");
    expect(page.status).toBe(429);
    expect(await page.text()).toContain("Too many usage reads");
    // Another account meanwhile: its usage read and chat requests are served.
    expect(gw.runtime.deps.usageReads.count(a.accountId)).toBe(2);
    const bUsage = await usage(b);
    expect(bUsage.status).toBe(200);
    await bUsage.json();
    for (let i = 0; i < 3; i++) {
      const r = await chat(gw.url, b.key, { model: "grok-4", messages: user(), max_tokens: 5 });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    // The first two finish with the whole history's totals.
    for (const r of await Promise.all(first)) {
      expect(r.status).toBe(200);
      expect(((await r.json()) as { totals: { requests: number } }).totals.requests).toBe(ROWS);
    }
    // Released when they end: the next read is served.
    expect(gw.runtime.deps.usageReads.count(a.accountId)).toBe(0);
    const again = await usage(a);
    expect(again.status).toBe(200);
    await again.arrayBuffer();
  });

  test("32 loops of one account's /v1/usage: never more than 2 run at once, the rest are 429s, and the count goes back to 0", async () => {
    let stop = false;
    let most = 0;
    const statuses = new Map<number, number>();
    const watch = setInterval(() => (most = Math.max(most, gw.runtime.deps.usageReads.count(a.accountId))), 1);
    const loops = Array.from({ length: 32 }, async () => {
      while (!stop) {
        const r = await usage(a);
        await r.arrayBuffer();
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 429) await Bun.sleep(5);
      }
    });
    await Bun.sleep(300);
    // B meanwhile.
    for (let i = 0; i < 5; i++) {
      const r = await chat(gw.url, b.key, { model: "grok-4", messages: user(), max_tokens: 5 });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    const bUsage = await usage(b);
    expect(bUsage.status).toBe(200);
    await bUsage.arrayBuffer();
    stop = true;
    await Promise.all(loops);
    clearInterval(watch);
    expect(most).toBe(2);
    expect([...statuses.keys()].sort()).toEqual([200, 429]);
    expect(gw.runtime.deps.usageReads.count(a.accountId)).toBe(0);
  });

  test("a client that leaves mid-read frees its place once the read ends", async () => {
    const ctl = new AbortController();
    const gone = [usage(a, ctl.signal).catch(() => null), usage(a, ctl.signal).catch(() => null)];
    await until(() => gw.runtime.deps.usageReads.count(a.accountId) === 2, 5_000, 1);
    ctl.abort();
    await Promise.all(gone);
    expect(await until(() => gw.runtime.deps.usageReads.count(a.accountId) === 0, 10_000)).toBe(true);
    const r = await usage(a);
    expect(r.status).toBe(200);
    await r.arrayBuffer();
  });

  test("the admin's usage report is not counted against the account", async () => {
    const first = [usage(a), usage(a)];
    await until(() => gw.runtime.deps.usageReads.count(a.accountId) === 2, 5_000, 1);
    const admin = await gw.admin(`/admin/usage?account_id=${a.accountId}&limit=1`);
    expect(admin.status).toBe(200);
    await admin.arrayBuffer();
    for (const r of await Promise.all(first)) {
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
  });
});

describe("the portal's CSV export", () => {
  test("counts as a usage read until its last row is sent, or the client leaves", async () => {
    const [first, second] = (await Promise.all([portalOwner.get("/portal/usage.csv"), portalOwner.get("/portal/usage.csv")])) as [Response, Response];
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(gw.runtime.deps.usageReads.count(a.accountId)).toBe(2);
    expect((await usage(a)).status).toBe(429);
    // The landing page is shown meanwhile, without its chart.
    const overview = await portalOwner.get("/portal");
    expect(overview.status).toBe(200);
    expect(await overview.text()).toContain('data-testid="chart-busy"');
    // One read to its end (100,000 rows), the other left after its first chunk.
    const text = await first.text();
    expect(text.split("\r\n").length).toBeGreaterThan(100_000);
    const reader = second.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(await until(() => gw.runtime.deps.usageReads.count(a.accountId) === 0, 5_000)).toBe(true);
  });
});
