/**
 * Paging payments: the customer and admin routes and the console page hand out a cursor of
 * (created_at in ms, id), so paging with any `limit` lists every payment exactly once, in order,
 * even when several were created in the same millisecond; on SQLite and PostgreSQL alike.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createAccount } from "../src/modules/accounts/service";
import { listPayments, parsePaymentCursor, paymentCursor, type PaymentCursor, type PaymentRow } from "../src/modules/billing/service";
import { PgStore } from "../src/store/pg-store";
import { openStore } from "../src/store/sqlite-store";
import type { Store } from "../src/store/store";
import { run } from "../src/store/work";
import { startFakeStripe, type FakeStripe } from "./support/fake-stripe";
import { startGateway, TestClock, type Customer, type Gateway } from "./support/gateway";
import { freshPostgres } from "./support/postgres";
import { WebClient } from "./support/web-client";

setDefaultTimeout(60_000);
// A whole second, near now (sessions the console checks are made on the real clock).
const T0 = Math.floor(Date.now() / 1000) * 1000;

let stripe: FakeStripe;
let gw: Gateway;
let a: Customer;
let b: Customer;
/** Every payment made, with the millisecond it was created at. */
const made: { id: string; accountId: string; at: number }[] = [];

const customerGet = (key: string, path: string) => fetch(gw.url + path, { headers: { authorization: `Bearer ${key}` } });

/** Newest first; ties by id, byte by byte (ids are ASCII, so JS string order is byte order). */
const newestFirst = (rows: { id: string; at: number }[]) =>
  [...rows].sort((x, y) => y.at - x.at || (y.id < x.id ? -1 : y.id > x.id ? 1 : 0)).map((r) => r.id);

/** Follows `next_cursor` from the first page to the last; the ids seen, in order. */
async function pageThrough(get: (query: string) => Promise<Response>, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const res = await get(`limit=${limit}${cursor === null ? "" : `&before=${encodeURIComponent(cursor)}`}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { id: string }[]; has_more: boolean; next_cursor: string | null };
    expect(body.data.length).toBeLessThanOrEqual(limit);
    ids.push(...body.data.map((p) => p.id));
    expect(body.has_more).toBe(typeof body.next_cursor === "string");
    if (!body.has_more) return ids;
    cursor = body.next_cursor;
  }
  throw new Error("paging did not end");
}

beforeAll(async () => {
  stripe = startFakeStripe();
  gw = await startGateway({ config: stripe.config(), clock: new TestClock(T0) });
  a = await gw.customer(0);
  b = await gw.customer(0);
  // Ties within one millisecond (across accounts too), and within one second.
  const plan: [Customer, number][] = [[a, 0], [a, 0], [b, 0], [a, 0], [a, 1], [b, 1], [a, 1], [a, 1000], [a, 2500], [b, 2500]];
  for (const [c, at] of plan) {
    gw.clock.add(T0 + at - gw.clock.now());
    const res = await fetch(`${gw.url}/v1/billing/checkout`, {
      method: "POST",
      headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
      body: JSON.stringify({ amount: 10 }),
    });
    expect(res.status).toBe(201);
    made.push({ id: ((await res.json()) as { id: string }).id, accountId: c.accountId, at: T0 + at });
  }
});
afterAll(async () => {
  await gw?.stop();
  await stripe?.stop();
});

describe("the payments API pages by cursor", () => {
  const ofA = () => newestFirst(made.filter((p) => p.accountId === a.accountId));
  const ofB = () => newestFirst(made.filter((p) => p.accountId === b.accountId));

  for (const limit of [1, 2, 3]) {
    test(`limit=${limit}: every payment once, in order, on the admin and customer routes`, async () => {
      expect(await pageThrough((q) => gw.admin(`/admin/payments?${q}`), limit)).toEqual(newestFirst(made));
      expect(await pageThrough((q) => gw.admin(`/admin/payments?account_id=${a.accountId}&${q}`), limit)).toEqual(ofA());
      expect(await pageThrough((q) => gw.admin(`/admin/accounts/${a.accountId}/payments?${q}`), limit)).toEqual(ofA());
      expect(await pageThrough((q) => customerGet(a.key, `/v1/billing/payments?${q}`), limit)).toEqual(ofA());
      expect(await pageThrough((q) => customerGet(b.key, `/v1/billing/payments?${q}`), limit)).toEqual(ofB());
    });
  }

  test("the cursor is the last row's millisecond and id; one page holds them all", async () => {
    const first = (await (await gw.admin("/admin/payments?limit=1")).json()) as { data: { id: string; created_at: number }[]; next_cursor: string };
    const newest = made.find((p) => p.id === first.data[0]!.id)!;
    expect(first.next_cursor).toBe(`${newest.at}:${newest.id}`);
    expect(first.data[0]!.created_at).toBe(Math.floor(newest.at / 1000));
    const all = (await (await gw.admin("/admin/payments")).json()) as { data: unknown[]; has_more: boolean; next_cursor: string | null };
    expect([all.data.length, all.has_more, all.next_cursor]).toEqual([made.length, false, null]);
  });

  test("a bare Unix time in ms (the older form) still lists the payments created before it", async () => {
    const before = (await (await gw.admin(`/admin/payments?before=${T0 + 1}`)).json()) as { data: { id: string }[] };
    expect(before.data.map((p) => p.id)).toEqual(newestFirst(made.filter((p) => p.at < T0 + 1)));
  });

  test("a `before` that is no cursor is a 400, never the first page again", async () => {
    for (const bad of ["abc", "-5", ":pay_x", "1.5", "99999999999999999999:pay_x"]) {
      const res = await gw.admin(`/admin/payments?before=${encodeURIComponent(bad)}`);
      expect([bad, res.status]).toEqual([bad, 400]);
    }
  });

  test("the OpenAPI spec documents the cursor on each payments route", async () => {
    type Op = { parameters: { name: string; schema: { description?: string } }[]; responses: { 200: { content: { "application/json": { schema: { properties: object } } } } } };
    const spec = (await (await fetch(gw.url + "/openapi.json")).json()) as { paths: Record<string, { get: Op }> };
    for (const path of ["/admin/payments", "/admin/accounts/{id}/payments", "/v1/billing/payments"]) {
      const op = spec.paths[path]!.get;
      expect([path, op.parameters.find((p) => p.name === "before")?.schema.description]).toEqual([path, expect.stringContaining("`next_cursor`")]);
      expect([path, Object.keys(op.responses[200].content["application/json"].schema.properties)]).toEqual([path, expect.arrayContaining(["next_cursor"])]);
    }
  });
});

describe("the console's payments page pages by cursor", () => {
  test("more than a page of payments in one millisecond: Older → shows the rest, none twice", async () => {
    const c = await gw.customer(0);
    const ids = Array.from({ length: 130 }, (_, i) => `pay_tie${String(i).padStart(3, "0")}`);
    await gw.runtime.deps.store.tx((q) => run(q.db.insert(q.t.payments).values(ids.map((id) => paymentRow(id, c.accountId, T0 + 5000)))));
    const web = new WebClient(gw.url);
    web.cookies.set("tg_console", await gw.session("admin", null));
    const seen: string[] = [];
    let path: string | null = `/console/payments?account_id=${c.accountId}`;
    for (let pages = 0; path !== null && pages < 10; pages++) {
      const { res, html } = await web.page(path);
      expect(res.status).toBe(200);
      seen.push(...[...html.matchAll(/data-payment="([^"]+)"/g)].map((m) => m[1]!));
      const older = /href="(\/console\/payments\?[^"]+)">Older/.exec(html);
      path = older ? older[1]!.replaceAll("&amp;", "&") : null;
    }
    expect(seen).toEqual([...ids].reverse());
  });
});

function paymentRow(id: string, accountId: string, at: number): PaymentRow {
  return {
    id, accountId, status: "pending", currency: "usd", amountMinor: 1000, creditMicros: 10_000_000, refundedMinor: 0, chargeCurrency: null, chargeAmountMinor: null, debitedMicros: 0,
    stripeSessionId: null, stripePaymentIntent: null, stripeChargeId: null, checkoutUrl: null, receiptUrl: null, ledgerId: null,
    createdAt: at, paidAt: null, updatedAt: at,
  };
}

const stores: { name: string; open: () => Promise<Store> }[] = [
  { name: "sqlite", open: async () => openStore(":memory:") },
  { name: "postgres", open: async () => PgStore.open(await freshPostgres()) },
];

for (const { name, open } of stores) {
  describe(`listPayments on ${name}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });

    test("mixed-case ids in one millisecond: byte order on both databases, each row once at every limit", async () => {
      const { id: acc } = await createAccount(store, { name: "Paging" }, "test");
      const rows = [
        ["pay_a", 0], ["pay_B", 0], ["pay_b", 0], ["pay_C", 0], ["pay_0", 0], ["pay_Z", 0], ["pay_z", 1], ["pay_A", 1], ["pay_m", -1],
      ].map(([id, d]) => paymentRow(id as string, acc, T0 + (d as number)));
      await store.tx((q) => run(q.db.insert(q.t.payments).values(rows)));
      const expected = newestFirst(rows.map((r) => ({ id: r.id, at: r.createdAt })));
      expect((await listPayments(store, { limit: 50, accountId: acc })).map((r) => r.id)).toEqual(expected);
      for (const limit of [1, 2, 4]) {
        const seen: string[] = [];
        let before: PaymentCursor | undefined;
        for (;;) {
          const page = await listPayments(store, { limit, accountId: acc, before });
          seen.push(...page.map((r) => r.id));
          if (page.length < limit) break;
          before = parsePaymentCursor(paymentCursor(page.at(-1)!))!;
        }
        expect([limit, seen]).toEqual([limit, expected]);
      }
    });
  });
}
