import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chat, user } from "./support/chat";
import { startGateway, TestClock, type Gateway } from "./support/gateway";

/**
 * Budgets over HTTP: x-budget-remaining on every /v1 answer for a key with a budget (its own or
 * its member's), 402 budget_exhausted naming the budget and its reset in budget_timezone, and
 * what GET /v1/me shows. Prices: grok-4 costs 3 micros per prompt token and 15 per output token.
 */
let gw: Gateway;
const clock = new TestClock(Date.parse("2026-12-15T12:00:00Z"));
beforeAll(async () => {
  gw = await startGateway({ upstream: true, clock, config: { budget_timezone: "Europe/Berlin" } });
});
afterAll(() => gw.stop());

const ask = (key: string, mock = { prompt_tokens: 1000, completion_tokens: 1000 }) =>
  chat(gw.url, key, { model: "grok-4", max_tokens: 1000, messages: user("hi"), mock });
const patchKey = (id: string, body: unknown) => gw.admin(`/admin/keys/${id}`, { method: "PATCH", body });
type Me = { budgets: { scope: string; period: string; amount_micros: number; spent_micros: number; remaining_micros: number; resets_at: number; time_zone: string }[]; budget_remaining_usd: string | null };

describe("budgets over HTTP", () => {
  test("x-budget-remaining on every /v1 answer of a key with a budget, none without one", async () => {
    const c = await gw.customer(10_000_000);
    const plain = await gw.key(c.accountId);
    expect((await patchKey(c.keyId, { budget: { period: "month", amount_micros: 1_000_000 } })).status).toBe(200);
    const models = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${c.key}` } });
    expect(models.headers.get("x-budget-remaining")).toBe("1.000000");
    const res = await ask(c.key);
    expect(res.status).toBe(200);
    // As of admission: this request's hold is deducted (prompt upper bound + 1000 output tokens).
    expect(Number(res.headers.get("x-budget-remaining"))).toBeLessThan(1 - 0.015);
    const me = await gw.me(c.key);
    const body = (await me.json()) as Me;
    // 1000 × 3 + 1000 × 15 micros charged.
    expect(body.budgets).toEqual([expect.objectContaining({ scope: "key", period: "month", amount_micros: 1_000_000, spent_micros: 18_000, remaining_micros: 982_000, time_zone: "Europe/Berlin" })]);
    expect(body.budgets[0]!.resets_at).toBe(Date.parse("2026-12-31T23:00:00Z") / 1000);
    expect(body.budget_remaining_usd).toBe("0.982000");
    expect(me.headers.get("x-budget-remaining")).toBe("0.982000");
    const other = await gw.me(plain.key);
    expect(other.headers.get("x-budget-remaining")).toBeNull();
    expect(((await other.json()) as Me).budgets).toEqual([]);
  });

  test("a used-up budget is a 402 budget_exhausted naming it and its reset, before the body is read", async () => {
    const c = await gw.customer(10_000_000);
    await patchKey(c.keyId, { budget: { period: "day", amount_micros: 20_000 } });
    expect((await ask(c.key)).status).toBe(200);
    // 18,000 of 20,000 spent: not enough for another request of this size.
    const refused = await ask(c.key);
    expect(refused.status).toBe(402);
    expect(refused.headers.get("x-budget-remaining")).toBe("0.002000");
    expect(refused.headers.get("x-budget-reset")).toBe("2026-12-15T23:00:00.000Z");
    const e = ((await refused.json()) as { error: { code: string; type: string; message: string } }).error;
    expect(e.code).toBe("budget_exhausted");
    expect(e.type).toBe("insufficient_quota");
    // 0.002 USD would still serve a smaller max_tokens: the message names that, and the reset.
    expect(e.message).toBe(
      "This request holds up to 0.015075 USD for max_tokens=1000 and this key's daily budget, which resets at 2026-12-16T00:00:00+01:00 (Europe/Berlin), leaves 0.002 USD; lower max_tokens to at most 128.",
    );
    // Exhausted outright: refused before the body is read (a large body costs nothing).
    await patchKey(c.keyId, { budget: { period: "day", amount_micros: 18_000 } });
    const big = await chat(gw.url, c.key, { model: "grok-4", messages: user("x".repeat(2_000_000)) });
    expect(big.status).toBe(402);
    expect(((await big.json()) as { error: { code: string; message: string } }).error).toEqual({
      ...((await (await ask(c.key)).json()) as { error: object }).error,
      code: "budget_exhausted",
      message: "This key's daily budget of 0.018 USD is used up (0.018 USD spent today, not enough left for this request); it resets at 2026-12-16T00:00:00+01:00 (Europe/Berlin).",
    });
    // The next day in Berlin the budget is whole again.
    clock.add(12 * 3_600_000);
    expect((await ask(c.key)).status).toBe(200);
    clock.add(-12 * 3_600_000);
  });

  test("a member's budget applies to every key of the member, and the tighter budget is the header", async () => {
    const c = await gw.customer(10_000_000);
    const invited = (await (await gw.admin(`/admin/accounts/${c.accountId}/members`, { body: { email: `m${Date.now()}@example.com`, role: "member" } })).json()) as { member: { id: string } };
    const memberId = invited.member.id;
    // Keys made by the operator are the owner's: move two to the member as the portal would have made them.
    const k1 = await gw.key(c.accountId);
    const k2 = await gw.key(c.accountId);
    gw.runtime.deps.store.sqlite.query("UPDATE api_keys SET member_id = ? WHERE id IN (?, ?)").run(memberId, k1.id, k2.id);
    expect((await gw.admin(`/admin/members/${memberId}`, { method: "PATCH", body: { budget: { period: "week", amount_micros: 30_000 } } })).status).toBe(200);
    await patchKey(k1.id, { budget: { period: "month", amount_micros: 500_000 } });
    expect((await ask(k1.key)).status).toBe(200);
    const me = (await (await gw.me(k2.key)).json()) as Me;
    expect(me.budgets).toEqual([expect.objectContaining({ scope: "member", period: "week", spent_micros: 18_000, remaining_micros: 12_000 })]);
    const refused = await ask(k2.key);
    expect(refused.status).toBe(402);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toStartWith("This request holds up to 0.015075 USD for max_tokens=1000 and your weekly member budget, which resets at ");
    // k1 has both budgets: the header shows the tighter, the member's.
    expect((await gw.me(k1.key)).headers.get("x-budget-remaining")).toBe("0.012000");
    const view = (await (await gw.admin(`/admin/members/${memberId}`)).json()) as { budget_status: { spent_micros: number; remaining_micros: number }; spent_this_month_micros: number };
    expect(view.budget_status).toMatchObject({ spent_micros: 18_000, remaining_micros: 12_000 });
    expect(view.spent_this_month_micros).toBe(18_000);
  });
});
