/**
 * The usage reports on both stores: the same usage rows on SQLite and on a real PostgreSQL give
 * the same pages, day totals, CSV, margins, console summaries and rollups, equal to what plain
 * TypeScript computes from the rows; rollups keep per-key totals (a key's and a member's reads
 * keep their rolled-up days), move bounded slices and count each row once, when
 * stopped between slices and run again, and when two run at once on one PostgreSQL. The console's
 * filters read a typed account or key name the same on both.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { asc, sql } from "drizzle-orm";
import { losses } from "../src/modules/margins/losses";
import { marginFilter, margins } from "../src/modules/margins/service";
import { rowsWhere } from "../src/modules/usage/query";
import { dailyUsage, listUsage, rollUpUsage, totalsOf, type UsageFilter } from "../src/modules/usage/service";
import { forEachSlice } from "../src/modules/usage/slices";
import { microsToUsd } from "../src/money/units";
import { PgStore } from "../src/store/pg-store";
import { openStore } from "../src/store/sqlite-store";
import type { Store } from "../src/store/store";
import { all, run, type Q, type Work } from "../src/store/work";
import { accountFilter, pickAccount, pickKey } from "../src/web/console/filter-choices";
import { keyChoices, keyLabels, trafficSince, usageByAccount } from "../src/web/console/service";
import { dailySeries, usageCsvStream } from "../src/web/portal/service";
import { freshPostgres } from "./support/postgres";
import { BASE, DAY, expectedDaily, expectedOrder, insertUsage, seedOwners, usageRows, type UsageInsert } from "./support/usage-seed";

type Closable = Store & { close(): unknown };
const ROWS = usageRows();
let sqlite: Closable;
let pg: Closable;
const both = () => [sqlite, pg] as const;

/** Runs `fn` on both stores; expects the same answer from each and returns it. */
async function same<T>(fn: (s: Store) => Promise<T>): Promise<T> {
  const [a, b] = [await fn(sqlite), await fn(pg)];
  expect(b).toEqual(a);
  return a;
}

beforeAll(async () => {
  sqlite = openStore(":memory:");
  pg = await PgStore.open(await freshPostgres());
  for (const s of both()) {
    await s.tx(seedOwners);
    await insertUsage(s, ROWS);
  }
});
afterAll(async () => {
  sqlite?.close();
  await pg?.close();
});

const FILTERS: [string, UsageFilter, (r: UsageInsert) => boolean][] = [
  ["everything", {}, () => true],
  ["one account", { accountId: "acc_A" }, (r) => r.accountId === "acc_A"],
  ["one key", { keyId: "key_a2" }, (r) => r.keyId === "key_a2"],
  ["a member's keys", { accountId: "acc_A", keyIds: ["key_A1", "key_a2"] }, (r) => r.keyId === "key_A1" || r.keyId === "key_a2"],
  ["no keys at all", { keyIds: [] }, () => false],
  ["one model", { model: "grok-3" }, (r) => r.model === "grok-3"],
  ["a period", { from: BASE + DAY + 3_600_000, to: BASE + 3 * DAY + 7_200_000 }, (r) => r.createdAt >= BASE + DAY + 3_600_000 && r.createdAt < BASE + 3 * DAY + 7_200_000],
];

describe("usage rows and day totals", () => {
  test("cursor paging walks every row once, newest first, ties by request id", async () => {
    for (const [name, f, match] of FILTERS) {
      for (const s of both()) {
        const ids: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await listUsage(s, f, 7, cursor);
          ids.push(...page.rows.map((r) => r.request_id));
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        expect({ name, ids }).toEqual({ name, ids: expectedOrder(ROWS.filter(match)) });
      }
    }
    const first = await same((s) => listUsage(s, { accountId: "acc_b" }, 3));
    const row = ROWS.find((r) => r.requestId === first.rows[0]!.request_id)!;
    expect(first.rows[0]).toMatchObject({ stream: row.stream, estimated: row.estimated, ttft_ms: row.ttftMs, created_at: Math.floor(row.createdAt / 1000) });
  });

  test("totals per UTC day and model, for every filter", async () => {
    for (const [name, f, match] of FILTERS) {
      const daily = await same((s) => dailyUsage(s, f));
      expect({ name, daily }).toEqual({ name, daily: expectedDaily(ROWS.filter(match)) });
    }
    const series = await same((s) => dailySeries(s, { accountId: "acc_A" }, BASE + 4 * DAY + 5, 7));
    expect(series.requests.reduce((a, b) => a + b, 0)).toBe(ROWS.filter((r) => r.accountId === "acc_A").length);
  });

  test("slices cover every row once, however small", async () => {
    for (const s of both()) {
      const seen: string[] = [];
      let slices = 0;
      await forEachSlice(s, { accountId: "acc_A" }, function* (q, slice) {
        slices++;
        const t = q.t.usageLog;
        for (const r of yield* all(q.db.select({ id: t.requestId }).from(t).where(rowsWhere(t, slice)))) seen.push(r.id);
      }, 16);
      const want = ROWS.filter((r) => r.accountId === "acc_A").map((r) => r.requestId);
      expect(slices).toBeGreaterThan(want.length / 16 - 1);
      expect(seen.sort()).toEqual(want.sort());
    }
  });

  test("CSV: the same bytes from both stores, one line per row", async () => {
    const csv = await same((s) => new Response(usageCsvStream(s, { accountId: "acc_A", model: "grok-4" }, microsToUsd)).text());
    const lines = csv.split("\r\n");
    expect(lines.pop()).toBe("");
    expect(lines.length - 1).toBe(ROWS.filter((r) => r.accountId === "acc_A" && r.model === "grok-4").length);
    expect(lines[1]!.split(",")[1]).toBe(expectedOrder(ROWS.filter((r) => r.accountId === "acc_A" && r.model === "grok-4"))[0]);
  });
});

describe("margins", () => {
  test("by day, model, account and key: the same report, exact sums", async () => {
    const f = marginFilter({ from: "2031-03-01", to: "2031-03-04" });
    const inPeriod = ROWS.filter((r) => r.createdAt >= BASE && r.createdAt < BASE + 4 * DAY);
    for (const by of ["day", "model", "account", "key"] as const) {
      const r = await same((s) => margins(s, f, by));
      expect(r.totals.requests).toBe(inPeriod.length);
      expect(r.totals.revenue_micros).toBe(inPeriod.reduce((a, x) => a + x.costMicros!, 0));
      const known = inPeriod.filter((x) => x.upstreamCostMicros !== null);
      expect(r.totals.known_cost_requests).toBe(known.length);
      expect(r.totals.upstream_cost_micros).toBe(known.reduce((a, x) => a + x.upstreamCostMicros!, 0));
      expect(r.totals.unknown_cost_requests).toBe(inPeriod.filter((x) => x.upstreamCostMicros === null && (x.costMicros! > 0 || x.status < 400)).length);
      const lost = inPeriod.filter((x) => x.upstreamCostMicros !== null && x.upstreamCostMicros! > x.costMicros!);
      expect(r.totals.loss_requests).toBe(lost.length);
      expect(r.totals.loss_micros).toBe(lost.reduce((a, x) => a + x.upstreamCostMicros! - x.costMicros!, 0));
      expect(r.data.reduce((a, g) => a + g.requests, 0)).toBe(inPeriod.length);
    }
    const byDay = await margins(pg, f, "day");
    expect(byDay.data.map((g) => g.group)).toEqual(["2031-03-04", "2031-03-03", "2031-03-02", "2031-03-01"]);
    const byKey = await margins(pg, f, "key");
    expect(new Map(byKey.data.map((g) => [g.group, g.label]))).toEqual(new Map([["key_A1", "Alpha one"], ["key_a2", ""], ["key_B1", "Bravo"], ["", null]]));
    const byAccount = await margins(sqlite, marginFilter({ account_id: "acc_b" }), "account");
    expect(byAccount.data.map((g) => [g.group, g.label])).toEqual([["acc_b", "Account acc_b"]]);
  });

  test("losses page by cursor, newest first, with names", async () => {
    const want = expectedOrder(ROWS.filter((r) => r.upstreamCostMicros !== null && r.upstreamCostMicros! > r.costMicros!));
    const ids = await same(async (s) => {
      const out: string[] = [];
      let before: string | undefined;
      do {
        const page = await losses(s, { limit: 4, before });
        out.push(...page.rows.map((r) => r.request_id));
        before = page.nextCursor ?? undefined;
      } while (before);
      return out;
    });
    expect(ids).toEqual(want);
    const page = await same((s) => losses(s, { limit: 50, key_id: "key_A1" }));
    expect(page.rows.every((r) => r.key_name === "Alpha one" && r.account_name === "Account acc_A" && r.loss_micros > 0)).toBe(true);
  });
});

describe("console summaries", () => {
  test("usage by account, traffic per model, key labels and choices", async () => {
    const byAccount = await same((s) => usageByAccount(s, {}));
    const sums = (id: string) => ({ accountId: id, requests: ROWS.filter((r) => r.accountId === id).length, cost: ROWS.filter((r) => r.accountId === id).reduce((a, r) => a + r.costMicros!, 0) });
    const want = ["acc_A", "acc_b"].map(sums).sort((x, y) => y.cost - x.cost);
    expect(byAccount.map((a) => ({ accountId: a.accountId, requests: a.requests, cost: a.costMicros }))).toEqual(want);
    expect(byAccount[0]!.name).toStartWith("Account ");
    const traffic = await same((s) => trafficSince(s, BASE + 2 * DAY));
    expect(traffic.reduce((a, t) => a + t.requests, 0)).toBe(ROWS.filter((r) => r.createdAt >= BASE + 2 * DAY).length);
    expect(traffic.some((t) => t.lastErrorCode === "upstream_error" || t.lastErrorCode === "server_busy")).toBe(true);
    const labels = await same((s) => keyLabels(s, ["key_A1", "key_a2", null, "key_missing"]));
    expect([...labels]).toEqual([["key_A1", "Alpha one"], ["key_a2", "sk-tg-ab…001x"]]);
    const choices = await same((s) => keyChoices(s));
    expect(choices.map((c) => c.label)).toEqual(["Account acc_b · Bravo", "Account acc_A · sk-tg-ab…001x", "Account acc_A · Alpha one"]);
    expect(await same((s) => keyChoices(s, "acc_A", 1))).toEqual([{ value: "key_a2", label: "sk-tg-ab…001x" }]);
  });

  test("the console's filters read a typed name or id alike on both stores", async () => {
    const picks = await same(async (s) => ({
      byId: await pickAccount(s, "acc_b"), byName: await pickAccount(s, "account ACC_A"), several: await pickAccount(s, "Account"), none: await pickAccount(s, "nobody"),
      key: await pickKey(s, "alpha ONE", ""), keyElsewhere: await pickKey(s, "Bravo", "acc_A"),
      account: await accountFilter(s, await pickAccount(s, "acc_A")),
    }));
    expect(picks.byId).toEqual({ id: "acc_b", problem: null });
    expect(picks.byName).toEqual({ id: "acc_A", problem: null });
    expect(picks.several.problem).toStartWith("Several accounts match");
    expect(picks.none).toEqual({ id: "nobody", problem: "No account matches “nobody”." });
    expect(picks.key).toEqual({ id: "key_A1", problem: null });
    expect(picks.keyElsewhere.problem).toBe("No key matches “Bravo”.");
    expect(picks.account).toMatchObject({ typed: false, chosen: "Account acc_A", problem: null });
  });
});

describe("rollup and retention", () => {
  test("old days move into daily totals; reports keep their totals; budget days are pruned", async () => {
    const now = BASE + 4 * DAY + 43_200_000;
    const cutoff = BASE + 2 * DAY;
    const before = await same(async (s) => ({ all: await dailyUsage(s, {}), a: await dailyUsage(s, { accountId: "acc_A", model: "grok-4" }) }));
    for (const s of both()) {
      await s.tx((q) => run(q.db.insert(q.t.budgetSpend).values([{ owner: "key:key_A1", day: now - 50 * DAY, spentMicros: 5 }, { owner: "key:key_A1", day: now - 3 * DAY, spentMicros: 6 }])));
      expect(await rollUpUsage(s, 2, now)).toBe(ROWS.filter((r) => r.createdAt < cutoff).length);
      expect(await rollUpUsage(s, 2, now)).toBe(0);
      const spend = await s.read((q) => all(q.db.select().from(q.t.budgetSpend).orderBy(asc(q.t.budgetSpend.day))));
      expect(spend.map((b) => b.spentMicros)).toEqual([6]);
    }
    const after = await same(async (s) => ({ all: await dailyUsage(s, {}), a: await dailyUsage(s, { accountId: "acc_A", model: "grok-4" }) }));
    expect(after).toEqual(before);
    // Rollups are per key too: a key's or a member's keys' filter keeps its rolled-up days, exactly.
    for (const [name, f, match] of FILTERS.filter(([name]) => name !== "a period")) {
      const daily = await same((s) => dailyUsage(s, f));
      expect({ name, daily }).toEqual({ name, daily: expectedDaily(ROWS.filter(match)) });
    }
    const mine = (r: UsageInsert) => r.keyId === "key_A1" || r.keyId === "key_a2";
    const series = await same((s) => dailySeries(s, { accountId: "acc_A", keyIds: ["key_A1", "key_a2"] }, now, 7));
    const spendOn = (day: number) => ROWS.filter((r) => mine(r) && Math.floor(r.createdAt / DAY) === Math.floor(BASE / DAY) + day).reduce((a, r) => a + r.costMicros!, 0);
    expect(series.spend).toEqual([0, 0, ...[0, 1, 2, 3, 4].map(spendOn)]);
    const left = await same((s) => listUsage(s, {}, 1000));
    expect(left.rows.length).toBe(ROWS.filter((r) => r.createdAt >= cutoff).length);
    expect(totalsOf(await same((s) => dailyUsage(s, { from: BASE, to: BASE + 5 * DAY })))).toEqual(totalsOf(before.all));
  });
});

/**
 * `s` with each transaction counted (the raw rows it moved); the `stopAt`-th runs every statement
 * and then fails before its commit, as a process killed there would.
 */
function watched(s: Store, stopAt = Infinity) {
  const moved: number[] = [];
  const raw = async () => (await s.read((q) => all(q.db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(q.t.usageLog))))[0]!.n;
  const store: Store = {
    dialect: s.dialect, read: (w) => s.read(w), changeStamp: () => s.changeStamp(), close: () => undefined,
    tx: async <T>(w: (q: Q) => Work<T>, o?: Parameters<Store["tx"]>[1]) => {
      const before = await raw();
      const work = moved.length + 1 === stopAt ? function* (q: Q): Work<T> {
        yield* w(q);
        throw new Error("stopped before its commit");
      } : w;
      const result = await s.tx(work, o);
      moved.push(before - (await raw()));
      return result;
    },
  };
  return { store, moved };
}

describe("rollup in slices", () => {
  test("no slice above its size; stopped before a slice's commit and run again, each row is counted once", async () => {
    const rows = usageRows(1_500, { days: 6, seed: 5 });
    const now = BASE + 6 * DAY + 1_000;
    const due = rows.filter((r) => r.createdAt < BASE + 5 * DAY).length;
    for (const s of [openStore(":memory:"), await PgStore.open(await freshPostgres())] as Closable[]) {
      try {
        await s.tx(seedOwners);
        await insertUsage(s, rows);
        // The budget days, four slices, then a fifth that never commits.
        const first = watched(s, 6);
        await expect(rollUpUsage(first.store, 1, now, 64)).rejects.toThrow("stopped before its commit");
        expect(first.moved).toHaveLength(5);
        const done = first.moved.slice(1).reduce((a, n) => a + n, 0);
        expect(first.moved.slice(1).every((n) => n > 0 && n <= 64)).toBe(true);
        // The totals stay exact meanwhile: each row is either still raw or rolled up, never both.
        expect(await dailyUsage(s, {})).toEqual(expectedDaily(rows));
        const second = watched(s);
        expect(await rollUpUsage(second.store, 1, now, 64)).toBe(due - done);
        expect(Math.max(...second.moved)).toBeLessThanOrEqual(64);
        expect(second.moved.length).toBeGreaterThan((due - done) / 64);
        expect(await dailyUsage(s, {})).toEqual(expectedDaily(rows));
        expect(await rollUpUsage(s, 1, now, 64)).toBe(0);
        const rolled = await s.read((q) => all(q.db.select({ n: sql<number>`sum(${q.t.usageDaily.requests})`.mapWith(Number) }).from(q.t.usageDaily)));
        expect(rolled).toEqual([{ n: due }]);
      } finally {
        await s.close();
      }
    }
  });
  test("rows sharing one millisecond beyond a slice's size move together, once", async () => {
    const rows = usageRows(60, { days: 1, seed: 17 });
    for (const r of rows.slice(0, 25)) r.createdAt = BASE + 1_000;
    for (const s of [openStore(":memory:"), await PgStore.open(await freshPostgres())] as Closable[]) {
      try {
        await s.tx(seedOwners);
        await insertUsage(s, rows);
        const w = watched(s);
        expect(await rollUpUsage(w.store, 1, BASE + 2 * DAY, 4)).toBe(60);
        const first = rows.filter((r) => r.createdAt <= BASE + 1_000).length;
        expect(w.moved.slice(1, 2)).toEqual([first]);
        expect(Math.max(...w.moved.slice(2))).toBeLessThanOrEqual(4);
        expect(await dailyUsage(s, {})).toEqual(expectedDaily(rows));
      } finally {
        await s.close();
      }
    }
  });
});

describe("two rollups at once on one PostgreSQL", () => {
  test("every row is counted once in the daily totals", async () => {
    const url = await freshPostgres();
    const [a, b] = [await PgStore.open(url), await PgStore.open(url, { migrate: false })];
    try {
      await a.tx(seedOwners);
      const rows = usageRows(3_000, { days: 12, seed: 11 });
      await insertUsage(a, rows);
      const want = expectedDaily(rows);
      let moved = 0;
      for (const day of [3, 6, 9, 13]) {
        const now = BASE + day * DAY + 1_000;
        const runs = await Promise.all([rollUpUsage(a, 1, now), rollUpUsage(b, 1, now), rollUpUsage(a, 1, now + 5), rollUpUsage(b, 1, now + 9)]);
        // The first to commit moves every row; the others find nothing left (after a conflict, run again).
        expect(runs.filter((n) => n > 0)).toHaveLength(1);
        moved += runs.reduce((x, y) => x + y, 0);
        expect(moved).toBe(rows.filter((r) => r.createdAt < BASE + (day - 1) * DAY).length);
      }
      expect(moved).toBe(rows.length);
      expect(await dailyUsage(b, {})).toEqual(want);
      const left = await a.read((q) => all(q.db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(q.t.usageLog)));
      expect(left).toEqual([{ n: 0 }]);
    } finally {
      await a.close();
      await b.close();
    }
  });
  test("in small slices, interleaved: every row is counted once", async () => {
    const url = await freshPostgres();
    const [a, b] = [await PgStore.open(url), await PgStore.open(url, { migrate: false })];
    try {
      await a.tx(seedOwners);
      const rows = usageRows(2_000, { days: 4, seed: 13 });
      await insertUsage(a, rows);
      const now = BASE + 5 * DAY + 1_000;
      // Started a few milliseconds apart, so that later runs arrive between the slices of earlier ones.
      const runs = await Promise.all(
        Array.from({ length: 8 }, (_, i) => Bun.sleep(i * 15).then(() => rollUpUsage(i % 2 ? b : a, 1, now + i, 40))),
      );
      expect(runs.reduce((x, y) => x + y, 0)).toBe(rows.length);
      expect(await dailyUsage(b, {})).toEqual(expectedDaily(rows));
      const rolled = await a.read((q) => all(q.db.select({ n: sql<number>`sum(${q.t.usageDaily.requests})`.mapWith(Number) }).from(q.t.usageDaily)));
      expect(rolled).toEqual([{ n: rows.length }]);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
