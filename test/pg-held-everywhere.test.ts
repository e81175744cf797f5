/**
 * What an account holds is the same whichever instance answers: GET /v1/me, GET
 * /admin/accounts/:id and the accounts list, the console's account page and the portal's
 * overview count the holds of requests in flight on other instances (as their leases last
 * reported them, every 5 s), not only the answering one's; so do /v1/me's budgets.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN_TOKEN } from "./support/gateway";
import { chatStatus, FLAT_MODEL, pgOverFake } from "./support/pg-gateways";
import { WebClient } from "./support/web-client";

setDefaultTimeout(120_000);
const pg = pgOverFake(2, { models: [FLAT_MODEL] });
/** Holds 1,000 for `delayMs` before it is answered (and charged 1,000). */
const slow = (delayMs: number) =>
  JSON.stringify({ model: "flat", max_tokens: 100, messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 0, completion_tokens: 100, delay_ms: delayMs } });

type Shown = { balance_micros: number; held_micros: number; available_micros: number };
const pick = (m: Shown) => ({ balance: m.balance_micros, held: m.held_micros, available: m.available_micros });

test("a request in flight on one instance: /v1/me, /admin/accounts/:id and the list show its hold on every instance", async () => {
  const [a, b] = pg.cluster.gateways as [typeof pg.cluster.gateways[0], typeof pg.cluster.gateways[0]];
  const c = await a.customer(5_000);
  // The portal's customer signs up on B before the request (an invite of the account).
  const inv = (await (await a.admin(`/admin/accounts/${c.accountId}/invite`, { body: {} })).json()) as { url: string };
  const portal = new WebClient(b.url);
  const path = new URL(inv.url).pathname;
  const PASSWORD = "correct horse battery staple";
  expect((await portal.submit(path, path, { email: "held@example.com", password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
  const operator = new WebClient(b.url);
  expect((await operator.submit("/console/login", "/console/login", { token: ADMIN_TOKEN })).status).toBe(303);
  const inflight = chatStatus(a.url, c.key, slow(12_000));
  // Past a lease renewal (every 5 s), which reports the hold in credit_leases.held_micros.
  await Bun.sleep(6_500);
  const shown = async (gw: typeof a) => {
    const listed = (await (await gw.admin(`/admin/accounts?q=${c.accountId}`)).json()) as { data: (Shown & { id: string })[] };
    return {
      me: pick((await (await gw.me(c.key)).json()) as Shown),
      account: pick((await (await gw.admin(`/admin/accounts/${c.accountId}`)).json()) as Shown),
      listed: pick(listed.data.find((r) => r.id === c.accountId)!),
    };
  };
  const want = { balance: 5_000, held: 1_000, available: 4_000 };
  expect({ a: await shown(a), b: await shown(b) }).toEqual({ a: { me: want, account: want, listed: want }, b: { me: want, account: want, listed: want } });
  // The pages of B too: the console's account page and the portal's overview (exact in the title).
  expect((await operator.page(`/console/accounts/${c.accountId}`)).html).toContain('Held</div><div class="value" title="$0.001">');
  expect((await portal.page("/portal")).html).toContain('title="$0.001" data-testid="held"');
  expect(await inflight).toBe(200);
  // Charged and nothing held any more, wherever it is asked.
  const done = { balance: 4_000, held: 0, available: 4_000 };
  expect(pick((await (await b.me(c.key)).json()) as Shown)).toEqual(done);
});

type MeBudgets = { held_micros: number; budgets: { held_micros: number; remaining_micros: number }[]; budget_remaining_usd: string | null };
const pickBudgets = (m: MeBudgets) => ({ held: m.held_micros, budget: m.budgets.map((b) => ({ held: b.held_micros, remaining: b.remaining_micros })), least: m.budget_remaining_usd });

test("a request in flight on one instance: /v1/me's key budget shows its hold on every instance", async () => {
  const [a, b] = pg.cluster.gateways as [typeof pg.cluster.gateways[0], typeof pg.cluster.gateways[0]];
  const c = await a.customer(100_000, { budget: { period: "month", amount_micros: 50_000 } });
  const inflight = chatStatus(a.url, c.key, slow(10_000));
  await Bun.sleep(6_500);
  const want = { held: 1_000, budget: [{ held: 1_000, remaining: 49_000 }], least: "0.049000" };
  const shown = async (gw: typeof a) => pickBudgets((await (await gw.me(c.key)).json()) as MeBudgets);
  expect({ a: await shown(a), b: await shown(b) }).toEqual({ a: want, b: want });
  expect(await inflight).toBe(200);
});
