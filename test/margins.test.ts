import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { csvCell } from "../src/lib/csv";
import { insertUsage } from "../src/money/usage-row";
import type { UsageRecord } from "../src/money/credit-store";
import { chat, user } from "./support/chat";
import { fakeCatalogue } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";

/**
 * Margins: revenue (Σ cost_micros) against upstream cost (Σ upstream_cost_micros) by day, model,
 * account and key, unknown costs counted apart, losses listed, CSV exact to the micro.
 */
let gw: Gateway;
const DAY = 86_400_000;
const T0 = Date.UTC(2030, 0, 10, 12);

function row(o: Partial<UsageRecord> & { requestId: string; accountId: string }): UsageRecord {
  return {
    keyId: null, model: "grok-4", stream: false, status: 200, promptTokens: 10, cachedTokens: 0, completionTokens: 5, reasoningTokens: 0,
    costMicros: 0, estimated: false, latencyMs: 5, ttftMs: null, upstreamRequestId: null, errorCode: null, createdAt: T0, ...o,
  };
}

let a: { accountId: string; keyId: string };
let b: { accountId: string; keyId: string };
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
  a = await gw.customer(1_000_000, { name: "alpha key" }, { name: "Alpha Corp" });
  b = await gw.customer(1_000_000, { name: "beta key" }, { name: "Beta LLC" });
  const store = gw.runtime.deps.store;
  const put = (r: UsageRecord) => store.write(() => insertUsage(store, r));
  // Day 1: A earns 1.000001 against 0.600000 (grok-4) and 0.5 against an unknown cost (grok-3).
  put(row({ requestId: "r1", accountId: a.accountId, keyId: a.keyId, costMicros: 1_000_001, upstreamCostMicros: 600_000 }));
  put(row({ requestId: "r2", accountId: a.accountId, keyId: a.keyId, model: "grok-3", costMicros: 500_000, upstreamCostMicros: null }));
  // An uncharged failure: neither known nor unknown cost.
  put(row({ requestId: "r3", accountId: a.accountId, keyId: a.keyId, status: 502, costMicros: 0, upstreamCostMicros: null }));
  // Day 2: B loses money on one request (an overage past the hold) and earns on another.
  put(row({ requestId: "r4", accountId: b.accountId, keyId: b.keyId, createdAt: T0 + DAY, costMicros: 200_000, upstreamCostMicros: 350_000, overageMicros: 50_000 }));
  put(row({ requestId: "r5", accountId: b.accountId, keyId: b.keyId, createdAt: T0 + DAY + 1, costMicros: 300_000, upstreamCostMicros: 100_000 }));
});
afterAll(() => gw?.stop());

const get = async (path: string) => {
  const res = await gw.admin(path);
  expect(res.status).toBe(200);
  return (await res.json()) as any;
};

describe("GET /admin/margins", () => {
  test("totals: revenue, known cost, unknown cost apart, margin and margin %", async () => {
    const r = await get("/admin/margins?from=2030-01-01&to=2030-01-31");
    expect(r.totals).toEqual({
      requests: 5, revenue_micros: 2_000_001, known_cost_requests: 3, known_cost_revenue_micros: 1_500_001,
      upstream_cost_micros: 1_050_000, unknown_cost_requests: 1, unknown_cost_revenue_micros: 500_000,
      margin_micros: 450_001, margin_percent: 30, loss_requests: 1, loss_micros: 150_000,
    });
  });

  test("by day (newest first), model, account (with names) and key (with names)", async () => {
    const byDay = await get("/admin/margins?group_by=day");
    expect(byDay.data.map((d: any) => [d.group, d.revenue_micros, d.margin_micros])).toEqual([
      ["2030-01-11", 500_000, 50_000],
      ["2030-01-10", 1_500_001, 400_001],
    ]);
    const byModel = await get("/admin/margins?group_by=model");
    const g3 = byModel.data.find((d: any) => d.group === "grok-3");
    expect(g3).toMatchObject({ revenue_micros: 500_000, upstream_cost_micros: 0, unknown_cost_requests: 1, margin_micros: 0, margin_percent: null });
    const byAccount = await get("/admin/margins?group_by=account");
    expect(byAccount.data.map((d: any) => [d.label, d.loss_micros])).toEqual([["Alpha Corp", 0], ["Beta LLC", 150_000]]);
    const byKey = await get(`/admin/margins?group_by=key&account_id=${b.accountId}`);
    expect(byKey.data).toHaveLength(1);
    expect(byKey.data[0]).toMatchObject({ group: b.keyId, label: "beta key", revenue_micros: 500_000, margin_percent: 10 });
  });

  test("filters: period (a date `to` includes that day), account, model, key", async () => {
    expect((await get("/admin/margins?to=2030-01-10")).totals.requests).toBe(3);
    expect((await get(`/admin/margins?from=${Math.floor((T0 + DAY) / 1000)}`)).totals.requests).toBe(2);
    expect((await get("/admin/margins?model=grok-3")).totals.revenue_micros).toBe(500_000);
    expect((await get(`/admin/margins?key_id=${a.keyId}`)).totals.requests).toBe(3);
    const bad = await gw.admin("/admin/margins?from=2030-02-01&to=2030-01-01");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.param).toBe("to");
  });

  test("CSV: the same groups and a total line, money exact to the micro", async () => {
    const res = await gw.admin("/admin/margins.csv?group_by=day");
    expect(res.headers.get("content-type")).toStartWith("text/csv");
    const lines = (await res.text()).trim().split("\r\n");
    expect(lines[0]).toStartWith("day,label,requests,revenue_usd,upstream_cost_usd,margin_usd,margin_percent");
    expect(lines[2]).toStartWith("2030-01-10,,3,1.500001,0.6,0.400001,40,");
    expect(lines.at(-1)).toStartWith("total,,5,2.000001,1.05,0.450001,30,");
    const viaFormat = await gw.admin("/admin/margins?group_by=day&format=csv");
    expect(await viaFormat.text()).toBe(`${lines.join("\r\n")}\r\n`);
  });

  test("needs the admin token", async () => {
    expect((await fetch(`${gw.url}/admin/margins`)).status).toBe(401);
  });
});

describe("GET /admin/margins/losses", () => {
  test("lists the requests charged less than their upstream cost, with names", async () => {
    const r = await get("/admin/margins/losses");
    expect(r.data).toHaveLength(1);
    expect(r.data[0]).toMatchObject({
      request_id: "r4", account_name: "Beta LLC", key_name: "beta key", cost_micros: 200_000, upstream_cost_micros: 350_000,
      loss_micros: 150_000, overage_micros: 50_000,
    });
  });

  test("pages newest first with a cursor, across rows of the same millisecond", async () => {
    const store = gw.runtime.deps.store;
    const c = await gw.customer(0, {}, { name: "Pager" });
    store.write(() => {
      for (let i = 0; i < 7; i++) {
        insertUsage(store, row({ requestId: `loss_${i}`, accountId: c.accountId, createdAt: T0 + 5 * DAY + (i < 4 ? 0 : i), costMicros: 1, upstreamCostMicros: 2 }));
      }
    });
    const seen: string[] = [];
    let before = "";
    for (let page = 0; page < 5; page++) {
      const r = await get(`/admin/margins/losses?account_id=${c.accountId}&limit=3${before ? `&before=${encodeURIComponent(before)}` : ""}`);
      seen.push(...r.data.map((l: any) => l.request_id));
      if (!r.has_more) break;
      before = r.next_cursor;
    }
    expect(seen).toEqual(["loss_6", "loss_5", "loss_4", "loss_3", "loss_2", "loss_1", "loss_0"]);
  });
});

describe("margins of real requests", () => {
  test("a model's upstream_cost prices give each request its upstream cost; a price below cost is a loss", async () => {
    const cat = fakeCatalogue(gw.upstream.url);
    const g2 = await startGateway({
      upstream: gw.upstream,
      config: {
        models: [
          { ...cat.models[0], upstream_cost: { input_price: 2, output_price: 10 } },
          { id: "thin", provider: "fake", input_price: 1, output_price: 1, upstream_cost: { input_price: 2, output_price: 4 } },
        ],
      },
    });
    try {
      const c = await g2.customer(5_000_000);
      for (const model of ["grok-4", "thin"]) {
        // An upstream that reports no cost of its own: the configured upstream_cost prices apply.
        const res = await chat(g2.url, c.key, { model, messages: user(), mock: { prompt_tokens: 1000, completion_tokens: 100, cost_ticks: null } });
        expect(res.status).toBe(200);
      }
      const r = (await (await g2.admin("/admin/margins?group_by=model")).json()) as any;
      const by = Object.fromEntries(r.data.map((d: any) => [d.group, d]));
      // grok-4: 1000 × 3 + 100 × 15 = 4500 charged; 1000 × 2 + 100 × 10 = 3000 upstream.
      expect(by["grok-4"]).toMatchObject({ revenue_micros: 4500, upstream_cost_micros: 3000, margin_micros: 1500, margin_percent: 33.33 });
      // thin: 1100 charged, 2400 upstream: a loss of 1300.
      expect(by.thin).toMatchObject({ revenue_micros: 1100, upstream_cost_micros: 2400, margin_micros: -1300, loss_requests: 1, loss_micros: 1300 });
      const l = (await (await g2.admin("/admin/margins/losses")).json()) as any;
      expect(l.data.map((x: any) => x.model)).toEqual(["thin"]);
    } finally {
      await g2.stop({ keepUpstream: true });
    }
  });
});

describe("CSV cells a customer names", () => {
  test("a formula is defused whatever it starts with, a minus and a digit too; plain numbers stay numbers", () => {
    for (const evil of ["=1+1", "+A1", "-1+cmd|' /C calc'!A0", "-1-1", "-0.5+A1", "@SUM(A1)", "\t=1", "\r=1"]) {
      expect([evil, csvCell(evil).replace(/^"/, "")[0]]).toEqual([evil, "'"]);
    }
    expect(csvCell("-1+HYPERLINK(\"x\")")).toBe(`"'-1+HYPERLINK(""x"")"`);
    for (const n of ["-0.25", "-12", "0.000001", "42", -3, 1.5, 0]) expect(csvCell(n)).toBe(String(n));
    expect(csvCell("plain, text")).toBe(`"plain, text"`);
  });

  test("a key and an account named like formulas reach the margins CSV defused", async () => {
    const c = await gw.customer(1_000_000, { name: "-1+cmd|' /C calc'!A0" }, { name: "-2+HYPERLINK(\"http://evil.test\")" });
    const store = gw.runtime.deps.store;
    await store.write(() => insertUsage(store, row({ requestId: "r_csv", accountId: c.accountId, keyId: c.keyId, costMicros: 10, upstreamCostMicros: 5 })));
    const csv = async (by: string) => (await (await gw.admin(`/admin/margins.csv?group_by=${by}&account_id=${c.accountId}`)).text()).split("\r\n")[1];
    expect(await csv("key")).toBe(`${c.keyId},'-1+cmd|' /C calc'!A0,1,0.00001,0.000005,0.000005,50,1,0.00001,0,0,0,0`);
    expect(await csv("account")).toStartWith(`${c.accountId},"'-2+HYPERLINK(""http://evil.test"")",1,`);
  });
});
