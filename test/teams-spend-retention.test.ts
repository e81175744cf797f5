import { afterAll, beforeAll, expect, test } from "bun:test";
import { rollUpUsage } from "../src/modules/usage/service";
import { chat, user } from "./support/chat";
import { startGateway, TestClock, type Gateway } from "./support/gateway";
import { join, portalKey } from "./support/teams";

/**
 * A member's "spent this month" (GET /admin/accounts/:id/members, the portal's Members page and
 * `tollgate members`, one view) keeps the whole month when usage_retention_days is shorter than
 * the month: the retention roll-up deletes the raw usage rows (its daily totals name no member,
 * and older ones no key), so the spend is read from the per-member budget days, which every charge adds to,
 * budget or not. GET /v1/usage still counts the same charges from the rolled-up totals. The
 * owner's also keeps what the account's keys were charged before its first member (to no member's
 * days), read from the keys' budget days less the members', not from the raw rows.
 */
const DAY = 86_400_000;
let gw: Gateway;
// The 1st of a month, 01:00 UTC (budget_timezone UTC): the charges fall on the month's first day.
const clock = new TestClock(Date.UTC(2026, 10, 1, 1));
beforeAll(async () => {
  clock.run();
  gw = await startGateway({ upstream: true, clock, config: { usage_retention_days: 2 } });
});
afterAll(() => gw?.stop());

const ask = (key: string) => chat(gw.url, key, { model: "grok-4", max_tokens: 50, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 50 } });
const ONE = 10 * 3 + 50 * 15;

test("a member's spent_this_month_micros keeps the charges the retention roll-up moved out of the usage log", async () => {
  const c = await gw.customer(20_000_000);
  const owner = await join(gw, c.accountId, "owner", "spend-owner@example.com");
  const member = await join(gw, c.accountId, "member", "spend-member@example.com");
  const mine = await portalKey(gw, member.w, "m");
  // The operator's key is the owner's; the member (no budget) spends with a key of their own.
  for (const k of [mine.key, c.key, c.key]) expect((await ask(k)).status).toBe(200);
  await gw.runtime.deps.credits.flush();
  const spent = async () => {
    const list = (await (await gw.admin(`/admin/accounts/${c.accountId}/members`)).json()) as { data: { id: string; spent_this_month_micros: number }[] };
    return new Map(list.data.map((m) => [m.id, m.spent_this_month_micros]));
  };
  const expected = new Map([[owner.memberId, 2 * ONE], [member.memberId, ONE]]);
  expect(await spent()).toEqual(expected);

  // Five days on, the hourly retention job (this function) has moved the 1st's rows into usage_daily.
  clock.freeze();
  clock.add(5 * DAY);
  await rollUpUsage(gw.runtime.deps.store, gw.config.usage_retention_days, clock.now());
  const raw = gw.runtime.deps.store.sqlite.query<{ n: number }, [string]>("SELECT count(*) AS n FROM usage_log WHERE account_id = ?").get(c.accountId)!.n;
  expect(raw).toBe(0);
  const start = Math.floor(Date.UTC(2026, 10, 1) / 1000);
  const usage = (await (await fetch(`${gw.url}/v1/usage?start=${start}`, { headers: { authorization: `Bearer ${c.key}` } })).json()) as { totals: { cost_micros: number } };
  expect(usage.totals.cost_micros).toBe(3 * ONE);
  expect(await spent()).toEqual(expected);
  // The owner's Members page shows the same.
  const html = (await owner.w.page("/portal/members")).html;
  const cell = (id: string) => new RegExp(`data-member-id="${id}"[\\s\\S]*?data-label="This month" class="num">([^<]+)<`).exec(html)?.[1];
  expect([cell(owner.memberId), cell(member.memberId)]).toEqual(["$0.00156", "$0.00078"]);
});

test("the owner's month spend counts what the account's keys were charged before its first member", async () => {
  const c = await gw.customer(20_000_000);
  expect((await ask(c.key)).status).toBe(200); // before the account has any member: charged to no member's days
  clock.add(60_000);
  const owner = await join(gw, c.accountId, "owner", `owner-first-${Date.now()}@example.com`);
  clock.add(60_000);
  expect((await ask(c.key)).status).toBe(200);
  await gw.runtime.deps.credits.flush();
  const members = (await (await gw.admin(`/admin/accounts/${c.accountId}/members`)).json()) as { data: { id: string; spent_this_month_micros: number }[] };
  expect(members.data.find((m) => m.id === owner.memberId)!.spent_this_month_micros).toBe(2 * ONE);
});

test("the owner's month spend keeps what came before its first member once the roll-up moved it out of the usage log", async () => {
  const c = await gw.customer(20_000_000);
  // Before the account has any member: charged to the key's budget days and no member's.
  for (let i = 0; i < 2; i++) expect((await ask(c.key)).status).toBe(200);
  await gw.runtime.deps.credits.flush();
  // Five days on (still this month), the retention job moves those rows into usage_daily.
  clock.add(5 * DAY);
  await rollUpUsage(gw.runtime.deps.store, gw.config.usage_retention_days, clock.now());
  const raw = () => gw.runtime.deps.store.sqlite.query<{ n: number }, [string]>("SELECT count(*) AS n FROM usage_log WHERE account_id = ?").get(c.accountId)!.n;
  expect(raw()).toBe(0);
  const owner = await join(gw, c.accountId, "owner", `owner-late-${Date.now()}@example.com`);
  const member = await join(gw, c.accountId, "member", `member-late-${Date.now()}@example.com`);
  const mine = await portalKey(gw, member.w, "m");
  clock.add(60_000);
  for (const k of [c.key, mine.key]) expect((await ask(k)).status).toBe(200);
  await gw.runtime.deps.credits.flush();
  expect(raw()).toBe(2);
  const list = (await (await gw.admin(`/admin/accounts/${c.accountId}/members`)).json()) as { data: { id: string; spent_this_month_micros: number }[] };
  const spent = new Map(list.data.map((m) => [m.id, m.spent_this_month_micros]));
  expect(spent).toEqual(new Map([[owner.memberId, 3 * ONE], [member.memberId, ONE]]));
});
