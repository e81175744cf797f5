import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { count, eq, sql } from "drizzle-orm";
import { insertUsage } from "../src/money/usage-row";
import { ROLLUP_SLICE_ROWS } from "../src/modules/usage/rollup";
import { rollUpUsage } from "../src/modules/usage/service";
import type { Store } from "../src/store/store";
import { all, get as getRow } from "../src/store/work";
import { chat, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";

let g: Gateway;
type Report = {
  data: { request_id: string; account_id: string; model: string; key_id: string; cost_micros: number; stream: boolean; status: number }[];
  totals: { requests: number; cost_micros: number; prompt_tokens: number; completion_tokens: number };
  daily: { day: string; model: string; requests: number; cost_micros: number }[];
  has_more: boolean;
  next_cursor: string | null;
};
const get = async (path: string, key: string) => (await (await fetch(g.url + path, { headers: { authorization: `Bearer ${key}` } })).json()) as Report;

let a: { accountId: string; keyId: string; key: string };
let b: { accountId: string; keyId: string; key: string };

beforeAll(async () => {
  g = await startGateway({ upstream: true });
  a = await g.customer();
  b = await g.customer();
  for (let i = 0; i < 3; i++) await chat(g.url, a.key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 10, completion_tokens: 2 } });
  await chat(g.url, a.key, { model: "grok-3", messages: user(), stream: true, mock: { prompt_tokens: 10, completion_tokens: 2 } });
  await chat(g.url, b.key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 100, completion_tokens: 100 } });
});
afterAll(() => g.stop());

describe("GET /v1/usage", () => {
  test("shows only the caller's own account, with totals and daily rows", async () => {
    const r = await get("/v1/usage", a.key);
    expect(r.data).toHaveLength(4);
    expect(r.data.every((x) => x.account_id === a.accountId)).toBe(true);
    expect(r.totals).toMatchObject({ requests: 4, prompt_tokens: 40, completion_tokens: 8, cost_micros: 4 * (30 + 30) });
    const today = new Date().toISOString().slice(0, 10);
    expect(r.daily.map((d) => [d.day, d.model, d.requests])).toEqual([
      [today, "grok-3", 1],
      [today, "grok-4", 3],
    ]);
  });

  test("filters by model and time and pages with a cursor", async () => {
    expect((await get("/v1/usage?model=grok-3", a.key)).data.map((x) => x.stream)).toEqual([true]);
    expect((await get(`/v1/usage?end=${Math.floor(Date.now() / 1000) - 3600}`, a.key)).data).toHaveLength(0);
    const p1 = await get("/v1/usage?limit=3", a.key);
    expect(p1.data).toHaveLength(3);
    expect(p1.has_more).toBe(true);
    const p2 = await get(`/v1/usage?limit=3&before=${encodeURIComponent(p1.next_cursor!)}`, a.key);
    expect(p2.data).toHaveLength(1);
    expect(new Set([...p1.data, ...p2.data].map((x) => x.request_id)).size).toBe(4);
  });

  test("a start or end in the far future is answered, not a 500", async () => {
    const v1 = (q: string) => fetch(`${g.url}/v1/usage?${q}`, { headers: { authorization: `Bearer ${a.key}` } });
    const late = await v1("start=9000000000000");
    expect(late.status).toBe(200);
    expect(((await late.json()) as Report).totals.requests).toBe(0);
    const all = await g.admin("/admin/usage?end=9000000000000");
    expect(all.status).toBe(200);
    expect(((await all.json()) as Report).totals.requests).toBe(5);
    expect(((await (await v1("end=9999-12-31T23:00:00Z")).json()) as Report).totals.requests).toBe(4);
  });

  test("a cursor that is not one is a 400, not the first page again", async () => {
    for (const before of ["abc", "123:", "1700000000000"]) {
      const r = await fetch(`${g.url}/v1/usage?before=${before}`, { headers: { authorization: `Bearer ${a.key}` } });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { param: string } }).error.param).toBe("before");
      expect((await g.admin(`/admin/usage?before=${before}`)).status).toBe(400);
    }
  });

  test("cannot read another account even when asking for it", async () => {
    const r = await get(`/v1/usage?account_id=${b.accountId}`, a.key);
    expect(r.data.every((x) => x.account_id === a.accountId)).toBe(true);
    const rk = await get(`/v1/usage?key_id=${b.keyId}`, a.key);
    expect(rk.data).toHaveLength(0);
  });

  test("requires a customer key; the admin token is not a customer key", async () => {
    expect((await fetch(`${g.url}/v1/usage`)).status).toBe(401);
    expect((await fetch(`${g.url}/v1/usage`, { headers: { authorization: "Bearer test-admin-token-0123456789" } })).status).toBe(401);
  });
});

describe("GET /admin/usage", () => {
  test("across accounts with totals, filterable by account and key", async () => {
    const all = (await (await g.admin("/admin/usage")).json()) as Report;
    expect(all.totals.requests).toBe(5);
    const onlyB = (await (await g.admin(`/admin/usage?account_id=${b.accountId}`)).json()) as Report;
    expect(onlyB.data.map((x) => x.account_id)).toEqual([b.accountId]);
    expect(onlyB.totals.cost_micros).toBe(100 * 3 + 100 * 15);
    const byKey = (await (await g.admin(`/admin/usage?key_id=${a.keyId}`)).json()) as Report;
    expect(byKey.totals.requests).toBe(4);
    expect((await fetch(`${g.url}/admin/usage`, { headers: { authorization: `Bearer ${a.key}` } })).status).toBe(401);
  });
});

describe("retention", () => {
  test("old rows are rolled up into daily totals and deleted; totals are unchanged", async () => {
    const before = (await (await g.admin("/admin/usage")).json()) as Report;
    const removed = await rollUpUsage(g.runtime.deps.store, 1, Date.now() + 3 * 86_400_000);
    expect(removed).toBe(5);
    const after = (await (await g.admin("/admin/usage")).json()) as Report;
    expect(after.data).toHaveLength(0);
    expect(after.totals).toEqual(before.totals);
    expect(after.daily).toEqual(before.daily);
    // Running it again moves nothing and counts nothing twice.
    expect(await rollUpUsage(g.runtime.deps.store, 1, Date.now() + 3 * 86_400_000)).toBe(0);
    expect(((await (await g.admin("/admin/usage")).json()) as Report).totals).toEqual(before.totals);
  });
  test("a large backlog moves in slices of bounded size; requests are answered between them", async () => {
    const store = g.runtime.deps.store;
    const c = await g.customer();
    // 200,000 rows of one day long past retention, 0.4 s apart.
    const N = 200_000;
    const dayStart = Date.UTC(2020, 0, 1);
    store.write(() => {
      for (let i = 0; i < N; i++) {
        insertUsage(store, {
          requestId: `req_old_${i}`, accountId: c.accountId, keyId: c.keyId, model: "grok-4", stream: false, status: 200,
          promptTokens: 10, cachedTokens: 1, completionTokens: 5, reasoningTokens: 2, costMicros: 3, estimated: false,
          latencyMs: 1, ttftMs: null, upstreamRequestId: null, errorCode: null, createdAt: dayStart + i * 400,
        });
      }
    });
    const rawRows = () => store.readSync((q) => getRow(q.db.select({ n: count() }).from(q.t.usageLog)))!.n;
    // The roll-up's own transactions, each with the raw rows it moved.
    const perTx: number[] = [];
    const counted: Store = {
      dialect: store.dialect, read: (w) => store.read(w), changeStamp: () => store.changeStamp(), close: () => undefined,
      tx: async (w, o) => {
        const before = rawRows();
        const result = await store.tx(w, o);
        perTx.push(before - rawRows());
        return result;
      },
    };
    let answeredAfter = -1;
    const request = fetch(`${g.url}/v1/me`, { headers: { authorization: `Bearer ${c.key}` } }).then((r) => {
      answeredAfter = perTx.length;
      return r.status;
    });
    const moved = await rollUpUsage(counted, 1, Date.now());
    const status = await request;
    expect(moved).toBe(N);
    expect(Math.max(...perTx)).toBeLessThanOrEqual(ROLLUP_SLICE_ROWS);
    expect(perTx.length).toBeGreaterThan(N / ROLLUP_SLICE_ROWS);
    // The customer's request was answered while the roll-up still had slices to move.
    expect(status).toBe(200);
    expect(answeredAfter).toBeGreaterThan(0);
    expect(answeredAfter).toBeLessThan(perTx.length);
    const d = store.t.usageDaily;
    const daily = await store.read((q) =>
      all(q.db.select({ day: d.day, requests: d.requests, cost: d.costMicros, prompt: d.promptTokens, reasoning: d.reasoningTokens }).from(d).where(eq(d.accountId, c.accountId)).orderBy(sql`${d.day}`)),
    );
    expect(daily).toEqual([{ day: "2020-01-01", requests: N, cost: 3 * N, prompt: 10 * N, reasoning: 2 * N }]);
  });
});
