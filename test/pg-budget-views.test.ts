import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { usd } from "../src/web/format";
import { chat, user } from "./support/chat";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import type { BinaryGateway } from "./support/gateway";
import { startPgGateways, type PgCluster } from "./support/pg-gateways";
import { join, portalKey } from "./support/teams";

/**
 * On PostgreSQL every instance shows each budget and where it stands, as on SQLite, also one that
 * never served the budget's keys (its credit store knows only the budgets it leased): the PATCH
 * answer, the members list and the owner's Members page a member's budget (docs/api.md: "budget
 * and where it stands"), the keys page each key's budget and what is left of it this period.
 */
setDefaultTimeout(120_000);
let upstream: MockUpstream;
let cluster: PgCluster;
let a: BinaryGateway;
let b: BinaryGateway;
beforeAll(async () => {
  upstream = startFakeUpstream();
  cluster = await startPgGateways(2, { entry: "source", config: { ...fakeCatalogue(upstream.url), ...SINGLE_SHOT, log_format: "off" } });
  [a, b] = cluster.gateways as [BinaryGateway, BinaryGateway];
});
afterAll(async () => {
  await cluster?.stop();
  await upstream?.stop();
});

let n = 0;
const email = (who: string) => `${who}-${++n}-${Date.now()}@example.com`;
const ask = (key: string) => chat(b.url, key, { model: "grok-4", max_tokens: 50, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 50 } });
const micros = (text: string) => Math.round(Number(text) * 1_000_000);
type Member = { id: string; budget_status: { spent_micros: number; held_micros: number; remaining_micros: number } | null; spent_this_month_micros: number };

describe("budgets shown on PostgreSQL", () => {
  test("a member's budget stands in the PATCH answer, the members list and the owner's Members page", async () => {
    const c = await a.customer(5_000_000);
    const owner = await join(a, c.accountId, "owner", email("o"));
    const m = await join(a, c.accountId, "member", email("m"));
    const k = await portalKey(a, m.w, "mk");
    expect((await ask(k.key)).status).toBe(200);
    const set = await a.admin(`/admin/members/${m.memberId}`, { method: "PATCH", body: { budget: { period: "month", amount_micros: 3_000_000 } } });
    expect(set.status).toBe(200);
    const patched = (await set.json()) as Member;
    // Served on the other instance after the budget was set: the spend reaches every view.
    expect((await ask(k.key)).status).toBe(200);
    const listed = ((await (await a.admin(`/admin/accounts/${c.accountId}/members`)).json()) as { data: Member[] }).data.find((x) => x.id === m.memberId)!;
    const spent = listed.spent_this_month_micros;
    expect(spent).toBeGreaterThan(0);
    // Two requests alike: the first was charged before the budget was set, and counts in its month.
    // What requests in flight hold is as the leases last reported it, a few seconds old at most.
    const held = listed.budget_status?.held_micros ?? 0;
    expect({ patch: patched.budget_status?.spent_micros, list: listed.budget_status })
      .toEqual({ patch: spent / 2, list: { ...listed.budget_status!, spent_micros: spent, remaining_micros: 3_000_000 - spent - held } });
    const page = (await owner.w.page("/portal/members")).html;
    const at = page.indexOf(`data-member-id="${m.memberId}"`);
    expect(page.slice(at, page.indexOf("</tr>", at))).toMatch(/\$[\d.,]+ left<\/div>/);
  });

  test("the keys page shows each key line's budget and what is left of it", async () => {
    const c = await a.customer(5_000_000);
    const owner = await join(a, c.accountId, "owner", email("o2"));
    const other = (await a.key(c.accountId, { name: "second" })).id;
    for (const [id, amount] of [[c.keyId, 2_000_000], [other, 1_000_000]] as const) {
      expect((await a.admin(`/admin/keys/${id}`, { method: "PATCH", body: { budget: { period: "week", amount_micros: amount } } })).status).toBe(200);
    }
    expect((await ask(c.key)).status).toBe(200);
    // The instance showing the page never served the key: /v1/me there reads its budget afresh.
    const me = (await (await a.me(c.key)).json()) as { budgets: { remaining_micros: number }[] };
    const html = (await owner.w.page("/portal/keys")).html;
    const shown = [...html.matchAll(/data-testid="key-budget">\$([\d.]+) per week · \$([\d.]+) left</g)]
      .map((x) => ({ limit: micros(x[1]!), left: micros(x[2]!) })).sort((x, y) => x.limit - y.limit);
    expect(shown.map((x) => x.limit)).toEqual([1_000_000, 2_000_000]);
    expect(shown[0]!.left).toBe(1_000_000);
    // Spent on the other instance; what its requests held is as its leases last reported it (none by now, or one request's).
    expect(me.budgets[0]!.remaining_micros).toBeLessThan(2_000_000);
    expect(shown[1]!.left).toBeLessThanOrEqual(me.budgets[0]!.remaining_micros);
    expect(shown[1]!.left).toBeGreaterThan(1_000_000);
  });
});
