import { Database } from "bun:sqlite";
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { statSync } from "node:fs";
import { SqliteStore } from "../src/store/sqlite-store";
import { checkLedger } from "../src/money/ledger";
import { usd } from "../src/web/format";
import { chat, until, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { ADMIN_TOKEN, startBinaryGateway, type BinaryGateway } from "./support/gateway";
import { WebClient } from "./support/web-client";

/**
 * Another process holding the database's write lock (a shell left in a transaction, a long CLI
 * write) while the compiled binary serves: SQLite waits for a lock on the event loop, so the
 * write-behind's try used to stall every request for its 5 s busy timeout. Requests now go on,
 * with their charges durable in the settlement journal; an admin write answers 503
 * `database_busy` instead of waiting; once the lock is gone every charge reaches SQLite, once.
 * Meanwhile every view of a balance (admin API, console, /v1/me) counts the journaled charges.
 */
setDefaultTimeout(60_000);
const upstream = startFakeUpstream();
let gw: BinaryGateway | undefined;
let shown: BinaryGateway | undefined;
afterAll(async () => {
  await gw?.stop("SIGKILL");
  await shown?.stop("SIGKILL");
  await upstream.stop();
});

// 1 prompt token and 1000 output tokens of grok-4 in the fake catalogue: 15,003 micros.
const COST = 15_003;
const REQUESTS = 24;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a database another process keeps locked", () => {
  test("requests go on without stalls, an admin write is a 503 at once, and every charge is written after", async () => {
    gw = await startBinaryGateway({ config: { ...fakeCatalogue(upstream.url), db_path: "tollgate.db" } });
    const c = await gw.customer(10_000_000);
    const other = new Database(gw.dbPath!);
    other.exec("BEGIN IMMEDIATE");
    let slowest = 0;
    try {
      // Spread over about 2.4 s: the write-behind tries (and retries) while the lock is held.
      for (let i = 0; i < REQUESTS; i++) {
        const t = performance.now();
        const res = await chat(gw.url, c.key, { model: "grok-4", max_tokens: 1000, messages: user("hi"), mock: { prompt_tokens: 1, completion_tokens: 1000 } }, { signal: AbortSignal.timeout(3_000) });
        expect(res.status).toBe(200);
        await res.json();
        slowest = Math.max(slowest, performance.now() - t);
        await sleep(100);
      }
      // The charges are only in the journal meanwhile.
      expect(statSync(`${gw.dbPath}-settlements`).size).toBeGreaterThan(0);
      const t = performance.now();
      const top = await gw.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: 1_000_000 } });
      const took = performance.now() - t;
      expect(top.status).toBe(503);
      expect(top.headers.get("retry-after")).toBe("1");
      expect(((await top.json()) as { error: { code: string } }).error.code).toBe("database_busy");
      // Far under SQLite's 5 s busy timeout, which every one of these waited before.
      expect(took).toBeLessThan(2_000);
      expect(slowest).toBeLessThan(2_000);
    } finally {
      other.exec("ROLLBACK");
    }
    const charges = () => other.query<{ n: number; s: number | null }, [string]>("SELECT count(*) AS n, -sum(amount_micros) AS s FROM ledger_entries WHERE kind = 'charge' AND account_id = ?").get(c.accountId)!;
    expect(await until(() => charges().n === REQUESTS, 5_000)).toBe(true);
    expect(charges().s).toBe(REQUESTS * COST);
    other.close();
    expect(await gw.balance(c.accountId)).toBe(10_000_000 - REQUESTS * COST);
    expect((await gw.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: 1_000_000 } })).status).toBe(201);
    const db = new SqliteStore(gw.dbPath!);
    try {
      expect(await checkLedger(db)).toEqual([]);
    } finally {
      db.close();
    }
    expect(await gw.stop("SIGTERM")).toBe(0);
  });

  test("the admin API and the console show the balance /v1/me shows, charges only in the journal counted", async () => {
    shown = await startBinaryGateway({ config: { ...fakeCatalogue(upstream.url), db_path: "tollgate.db" } });
    const c = await shown.customer(10_000_000);
    // Signed in before the lock: a sign-in writes its session.
    const op = new WebClient(shown.url);
    expect((await op.submit("/console/login", "/console/login", { token: ADMIN_TOKEN })).status).toBe(303);
    const other = new Database(shown.dbPath!);
    other.exec("BEGIN IMMEDIATE");
    const expected = 10_000_000 - 5 * COST;
    try {
      for (let i = 0; i < 5; i++) {
        const res = await chat(shown.url, c.key, { model: "grok-4", max_tokens: 1000, messages: user("hi"), mock: { prompt_tokens: 1, completion_tokens: 1000 } });
        expect(res.status).toBe(200);
        await res.json();
      }
      // Past the write-behind's first try: the charges stay in the journal while the lock is held.
      await sleep(300);
      expect(statSync(`${shown.dbPath}-settlements`).size).toBeGreaterThan(0);
      const me = (await (await shown.me(c.key)).json()) as { balance_micros: number; available_micros: number };
      expect(me.balance_micros).toBe(expected);
      const one = await shown.account(c.accountId);
      expect([one.balance_micros, one.held_micros, one.available_micros]).toEqual([expected, 0, expected]);
      const list = (await (await shown.admin(`/admin/accounts?q=${c.accountId}`)).json()) as { data: { balance_micros: number; available_micros: number }[] };
      expect(list.data.map((a) => [a.balance_micros, a.available_micros])).toEqual([[expected, expected]]);
      const detail = await op.page(`/console/accounts/${c.accountId}`);
      expect(detail.html).toContain(`title="${usd(expected)}" data-testid="balance"`);
      const rows = await op.page(`/console/accounts?q=${c.accountId}`);
      expect(rows.html).toContain(`title="${usd(expected)}"`);
      expect(rows.html).not.toContain(`title="${usd(10_000_000)}"`);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    expect(await shown.stop("SIGTERM")).toBe(0);
  });
});
