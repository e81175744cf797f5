import { afterAll, beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { SQL } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { migrations } from "../drizzle";
import { migrations as pgMigrations } from "../drizzle/pg";
import { dailyUsage, rollUpUsage, totalsOf } from "../src/modules/usage/service";
import { PgStore } from "../src/store/pg-store";
import { openStore } from "../src/store/sqlite-store";
import type { Store } from "../src/store/store";
import { all, run } from "../src/store/work";
import { freshPostgres } from "./support/postgres";
import { chat, user } from "./support/chat";
import { startGateway, TestClock, type Gateway } from "./support/gateway";
import { join as joinAccount, portalKey } from "./support/teams";

/**
 * The retention roll-up keeps its daily totals per key, so usage read by key keeps the days older
 * than usage_retention_days: GET /v1/usage and /admin/usage with key_id (the key's rotation line,
 * an old key's rolled-up days included), a member's usage (member_id, a member-role key), the
 * member's 30-day chart on the portal's overview and `tollgate usage --key`, each with the exact
 * totals; unfiltered reads count every day once. Rollups made before they were kept per key name
 * no key: they count for the account only, and a database upgraded with some keeps them so, on
 * SQLite and PostgreSQL (the reports of both stores after a roll-up: test/pg-reports.test.ts).
 */
const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), "tollgate-rollup-keys-"));
const DB = join(dir, "keys.db");
let gw: Gateway;
// 01:00 UTC: every request of the first day falls on that UTC day.
const clock = new TestClock(Date.UTC(2026, 10, 1, 1));
beforeAll(async () => {
  clock.run();
  gw = await startGateway({ upstream: true, clock, dbPath: DB, config: { usage_retention_days: 2 } });
});
afterAll(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One grok-4 request of 10 prompt and `out` completion tokens: 10 × 3 + out × 15 micros. */
const ask = async (key: string, out: number) => {
  const res = await chat(gw.url, key, { model: "grok-4", max_tokens: 50, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: out } });
  expect(res.status).toBe(200);
  return 10 * 3 + out * 15;
};
type Report = { totals: { requests: number; cost_micros: number }; daily: { day: string; requests: number; cost_micros: number }[] };
const v1 = async (key: string, query = "") => (await (await fetch(`${gw.url}/v1/usage${query}`, { headers: { authorization: `Bearer ${key}` } })).json()) as Report;
const admin = async (query: string) => (await (await gw.admin(`/admin/usage${query}`)).json()) as Report;
/** What a report must say: requests and cost, and per day. */
const sums = (r: Report) => ({ requests: r.totals.requests, cost: r.totals.cost_micros, days: r.daily.map((d) => [d.day, d.requests, d.cost_micros]) });

test("key, member and unfiltered usage reads keep the days the retention roll-up moved, each counted once", async () => {
  const c = await gw.customer(20_000_000);
  const owner = await joinAccount(gw, c.accountId, "owner", "keys-owner@example.com");
  const member = await joinAccount(gw, c.accountId, "member", "keys-member@example.com");
  const mine = await portalKey(gw, member.w, "m");
  const second = await gw.key(c.accountId, { name: "second" });
  const old = { first: (await ask(c.key, 1)) + (await ask(c.key, 2)), second: await ask(second.key, 3), mine: await ask(mine.key, 4) };
  // The first key is rotated: its line's newest key names the old key's rolled-up days too.
  const rotated = await gw.admin(`/admin/keys/${c.keyId}/rotate`, { body: { grace_seconds: 0 } });
  expect(rotated.status).toBe(201);
  const next = (await rotated.json()) as { id: string; key: string };

  // Five days on, the hourly job moves the first day's rows into the daily totals.
  clock.freeze();
  clock.add(5 * DAY);
  await gw.runtime.deps.credits.flush();
  expect(await rollUpUsage(gw.runtime.deps.store, gw.config.usage_retention_days, clock.now())).toBe(4);
  const now = { first: await ask(next.key, 5), mine: await ask(mine.key, 6) };
  await gw.runtime.deps.credits.flush();
  const [day1, day6] = ["2026-11-01", "2026-11-06"];

  const line = { requests: 3, cost: old.first + now.first, days: [[day6, 1, now.first], [day1, 2, old.first]] };
  expect(sums(await v1(second.key, `?key_id=${next.id}`))).toEqual(line);
  expect(sums(await admin(`?key_id=${c.keyId}`))).toEqual(line);
  expect(sums(await admin(`?key_id=${second.id}`))).toEqual({ requests: 1, cost: old.second, days: [[day1, 1, old.second]] });
  const theirs = { requests: 2, cost: old.mine + now.mine, days: [[day6, 1, now.mine], [day1, 1, old.mine]] };
  expect(sums(await admin(`?member_id=${member.memberId}`))).toEqual(theirs);
  expect(sums(await v1(mine.key))).toEqual(theirs);

  // Unfiltered: every request once, the rolled-up day summed over its keys.
  const oldTotal = old.first + old.second + old.mine;
  const whole = { requests: 6, cost: oldTotal + now.first + now.mine, days: [[day6, 2, now.first + now.mine], [day1, 4, oldTotal]] };
  expect(sums(await v1(second.key))).toEqual(whole);
  expect(sums(await admin(`?account_id=${c.accountId}`))).toEqual(whole);

  // The overview's 30-day chart: the member's own keys, the owner's whole account.
  const chart = async (w: typeof owner.w) => {
    const html = (await w.page("/portal")).html;
    const data = JSON.parse(/<script type="application\/json" id="chart-data">([^<]+)<\/script>/.exec(html)![1]!) as { days: number[]; spend: number[] };
    return data.days.map((d, i) => [new Date(d * 1000).toISOString().slice(0, 10), data.spend[i]]).filter(([, s]) => s !== 0);
  };
  expect(await chart(member.w)).toEqual([[day1, old.mine], [day6, now.mine]]);
  expect(await chart(owner.w)).toEqual([[day1, oldTotal], [day6, now.first + now.mine]]);

  // The CLI reads the same database file.
  const cli = async (...args: string[]) => {
    const proc = Bun.spawn([process.execPath, resolve(import.meta.dir, "../src/index.ts"), "usage", "--db", DB, ...args, "--json"], {
      cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir }, stdout: "pipe", stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    return JSON.parse(out) as Report;
  };
  expect(sums(await cli("--key", second.id))).toEqual({ requests: 1, cost: old.second, days: [[day1, 1, old.second]] });
  expect(sums(await cli("--key", mine.id))).toEqual(theirs);
  expect(sums(await cli("--account", c.accountId))).toEqual(whole);
});

test("a rollup made before totals were kept per key counts for its account, never for a key", async () => {
  const c = await gw.customer(20_000_000);
  // As the upgrade leaves one: no key_id.
  await gw.runtime.deps.store.tx((q) => run(q.db.insert(q.t.usageDaily).values({
    day: "2026-11-02", accountId: c.accountId, model: "grok-4", requests: 7, promptTokens: 70, cachedTokens: 0, completionTokens: 7, reasoningTokens: 0, costMicros: 315,
  })));
  const spent = await ask(c.key, 1);
  expect(sums(await v1(c.key, `?key_id=${c.keyId}`))).toEqual({ requests: 1, cost: spent, days: [["2026-11-06", 1, spent]] });
  expect(sums(await admin(`?account_id=${c.accountId}`))).toEqual({ requests: 8, cost: 315 + spent, days: [["2026-11-06", 1, spent], ["2026-11-02", 7, 315]] });
});

/**
 * A database as the release before per-key rollups left it (every migration before the one adding
 * usage_daily.key_id): a rollup of 5 requests and two raw rows of the same day, one of a key.
 */
const OLD_ROLLUP = "INSERT INTO usage_daily (day, account_id, model, requests, prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens, cost_micros) VALUES ('2031-03-01', 'acc_up', 'grok-4', 5, 50, 0, 5, 0, 100)";
const rawRow = (id: string, key: string | null, cost: number) =>
  `INSERT INTO usage_log (request_id, account_id, key_id, model, stream, status, prompt_tokens, completion_tokens, cost_micros, created_at) VALUES ('${id}', 'acc_up', ${key ? `'${key}'` : "NULL"}, 'grok-4', false, 200, 10, 1, ${cost}, ${Date.UTC(2031, 2, 1, 12)})`;
function beforeKeys<M extends { sql: string }>(list: M[]): M[] {
  const at = list.findIndex((m) => m.sql.includes("usage_daily") && /ADD (COLUMN )?["`]key_id["`]/.test(m.sql));
  if (at < 0) throw new Error("no migration adds usage_daily.key_id");
  return list.slice(0, at);
}

async function upgradedSqlite(): Promise<Store & { close(): unknown }> {
  const path = join(dir, `upgrade-${crypto.randomUUID()}.db`);
  const db = new Database(path, { create: true });
  db.exec("CREATE TABLE __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)");
  for (const m of beforeKeys(migrations)) {
    for (const stmt of m.sql.split("--> statement-breakpoint")) if (stmt.trim()) db.exec(stmt);
    db.query("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('x', ?)").run(m.when);
  }
  for (const s of [OLD_ROLLUP, rawRow("req_up_1", null, 20), rawRow("req_up_2", "key_up", 30)]) db.exec(s);
  db.close();
  return openStore(path);
}

async function upgradedPostgres(): Promise<Store & { close(): unknown }> {
  const url = await freshPostgres();
  const sql = new SQL(url);
  await sql`CREATE TABLE __drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`;
  for (const m of beforeKeys(pgMigrations)) {
    for (const stmt of m.sql.split("--> statement-breakpoint")) if (stmt.trim()) await sql.unsafe(stmt);
    await sql`INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('x', ${m.when})`;
  }
  for (const s of [OLD_ROLLUP, rawRow("req_up_1", null, 20), rawRow("req_up_2", "key_up", 30)]) await sql.unsafe(s);
  await sql.close();
  return PgStore.open(url);
}

test("after the upgrade, on both stores: old rollups stay the account's, the next roll-up adds per key", async () => {
  for (const open of [upgradedSqlite, upgradedPostgres]) {
    const s = await open();
    try {
      expect(await rollUpUsage(s, 1, Date.UTC(2031, 2, 5))).toBe(2);
      const kept = await s.read((q) => all(q.db.select({ key: q.t.usageDaily.keyId, requests: q.t.usageDaily.requests, cost: q.t.usageDaily.costMicros }).from(q.t.usageDaily)));
      // The keyless row of the day took the keyless raw row; the key's has a row of its own.
      expect(kept.sort((a, b) => String(a.key).localeCompare(String(b.key)))).toEqual([{ key: "key_up", requests: 1, cost: 30 }, { key: null, requests: 6, cost: 120 }]);
      expect(totalsOf(await dailyUsage(s, { accountId: "acc_up" }))).toMatchObject({ requests: 7, cost_micros: 150 });
      expect(totalsOf(await dailyUsage(s, { keyId: "key_up" }))).toMatchObject({ requests: 1, cost_micros: 30 });
      expect(totalsOf(await dailyUsage(s, { accountId: "acc_up", keyIds: ["key_up", "key_other"] }))).toMatchObject({ requests: 1, cost_micros: 30 });
    } finally {
      await s.close();
    }
  }
});
