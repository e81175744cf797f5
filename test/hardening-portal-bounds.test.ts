import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ApiError } from "../src/lib/errors";
import { createKey } from "../src/modules/keys/service";
import { updateKey } from "../src/modules/keys/update";
import { setMemberBudget } from "../src/modules/members/service";
import { startGateway, type Gateway } from "./support/gateway";
import { accept, join } from "./support/teams";

/**
 * What the portal and the services accept must be what the admin API can answer with: budgets up
 * to MAX_BALANCE_MICROS, invite emails the link's form accepts, free emails for an owner's invite,
 * key limits within the plan. A failed answer is logged by where it broke, never by what it held.
 */
let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
});
afterAll(() => gw.stop());

const sql = () => gw.runtime.deps.store.sqlite;
const flash = async (w: { page(p: string): Promise<{ html: string }> }, path: string) => (await w.page(path)).html;
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string | null; param: string | null; message: string } }).error;

/** An account with a signed-in owner and a joined member. */
async function team(tag: string) {
  const c = await gw.customer(0);
  const owner = await join(gw, c.accountId, "owner", `owner-${tag}-${c.accountId}@example.com`.toLowerCase());
  const member = await join(gw, c.accountId, "member", `member-${tag}-${c.accountId}@example.com`.toLowerCase());
  return { ...c, owner, member };
}

/** Runs `fn` with console.error and console.warn captured; what they were given, as text. */
async function captured(fn: () => Promise<void>): Promise<string> {
  const lines: string[] = [];
  const [error, warn] = [console.error, console.warn];
  console.error = console.warn = (...args: unknown[]) => void lines.push(args.map((a) => (typeof a === "string" ? a : Bun.inspect(a))).join(" "));
  try {
    await fn();
  } finally {
    [console.error, console.warn] = [error, warn];
  }
  return lines.join("\n");
}

describe("budgets stay within what the admin API answers with", () => {
  test("the portal refuses a member's budget above 1,000,000,000 USD, and takes that much", async () => {
    const t = await team("mb");
    const set = (usd: string) => t.owner.w.submit("/portal/members", `/portal/members/${t.member.memberId}/budget`, { budget_usd: usd, budget_period: "month" });
    expect((await set("5000000000")).status).toBe(303);
    expect(await flash(t.owner.w, "/portal/members")).toContain("The budget can be at most 1000000000 USD.");
    const m = await gw.admin(`/admin/members/${t.member.memberId}`);
    expect(m.status).toBe(200);
    expect(((await m.json()) as { budget: unknown }).budget).toBeNull();
    expect((await set("1000000000")).status).toBe(303);
    expect(((await (await gw.admin(`/admin/members/${t.member.memberId}`)).json()) as { budget: unknown }).budget).toMatchObject({ amount_micros: 1e15 });
    expect((await gw.admin(`/admin/accounts/${t.accountId}/members`)).status).toBe(200);
  });

  test("the portal's key edit refuses such a budget; the key stays readable and rotatable", async () => {
    const t = await team("kb");
    const to = `/portal/keys/${t.keyId}/edit`;
    const refused = await t.owner.w.submit(to, to, { name: "", budget_usd: "5000000000", budget_period: "month" });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain("The budget can be at most 1000000000 USD.");
    expect(sql().query<{ b: number | null }, [string]>("SELECT budget_micros AS b FROM api_keys WHERE id = ?").get(t.keyId)!.b).toBeNull();
    expect((await gw.admin(`/admin/keys/${t.keyId}`)).status).toBe(200);
    expect((await gw.admin(`/admin/accounts/${t.accountId}/keys`)).status).toBe(200);
    expect((await gw.admin(`/admin/keys/${t.keyId}/rotate`, { body: { grace_seconds: 0 } })).status).toBe(201);
  });

  test("the services refuse an out-of-range budget whoever calls them (400, the API's error shape)", async () => {
    const t = await team("svc");
    const store = gw.runtime.deps.store;
    for (const amount_micros of [5e15, 0, 1.5]) {
      const e = await setMemberBudget(store, t.member.memberId, { period: "month", amount_micros }, "test").catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).toJSON().error).toMatchObject({ type: "invalid_request_error", param: "budget.amount_micros" });
      expect((e as ApiError).status).toBe(400);
    }
    const made = await createKey(store, "sk-tg-", t.accountId, { budget: { period: "day", amount_micros: 5e15 } }, "test").catch((x: unknown) => x);
    expect((made as ApiError).status).toBe(400);
    const edited = await updateKey(store, t.keyId, { budget: { period: "day", amount_micros: 5e15 } }, { actor: "test", now: Date.now(), policy: gw.config, models: gw.config.models.map((m) => m.id) }).catch((x: unknown) => x);
    expect((edited as ApiError).status).toBe(400);
    expect(sql().query<{ n: number }, [string]>("SELECT count(*) AS n FROM api_keys WHERE account_id = ? AND budget_micros IS NOT NULL").get(t.accountId)!.n).toBe(0);
  });

  test("an answer failing its schema is a 500 logged by issue paths and codes, never its secrets or emails", async () => {
    const t = await team("log");
    // As an older release could have stored them: the answers naming them fail their schema.
    sql().query("UPDATE api_keys SET budget_micros = 5000000000000000, budget_period = 'month' WHERE id = ?").run(t.keyId);
    sql().query("UPDATE account_members SET budget_micros = 5000000000000000, budget_period = 'month' WHERE id = ?").run(t.member.memberId);
    const statuses: number[] = [];
    const log = await captured(async () => {
      statuses.push((await gw.admin(`/admin/keys/${t.keyId}/rotate`, { body: { grace_seconds: 0 } })).status);
      statuses.push((await gw.admin(`/admin/accounts/${t.accountId}/members`)).status);
    });
    expect(statuses).toEqual([500, 500]);
    expect(log).toContain("response failed its schema");
    expect(log).toContain("budget.amount_micros too_big");
    expect(log).not.toContain("sk-tg-");
    expect(log).not.toContain("@example.com");
  });
});

describe("portal invitations", () => {
  test("an email the invite's form would refuse is refused at once, and costs no invitation", async () => {
    const t = await team("mail");
    for (const email of ["jösé@example.com", "x@y.z", "a..b@example.com", '"q"@example.com']) {
      expect((await t.owner.w.submit("/portal/members", "/portal/members", { email, role: "member" })).status).toBe(303);
      const html = await flash(t.owner.w, "/portal/members");
      expect(html).toContain("Enter a valid email address.");
      expect(html).not.toContain("/portal/invite/");
    }
    expect(sql().query<{ n: number }, [string]>("SELECT count(*) AS n FROM account_members WHERE account_id = ?").get(t.accountId)!.n).toBe(2);
    // A valid one (mixed case, spaces) is invited as the form will hold it, and its link works.
    expect((await t.owner.w.submit("/portal/members", "/portal/members", { email: "  New.Person@Example.com ", role: "member" })).status).toBe(303);
    const link = /(http[^"<\s]*\/portal\/invite\/[0-9A-Za-z]+)/.exec(await flash(t.owner.w, "/portal/members"))?.[1];
    expect(link).toBeDefined();
    await accept(gw.url, link!, "new.person@example.com");
  });

  test("without SMTP every invitation counts against the account's 30 an hour, so other accounts' emails cannot be probed at will", async () => {
    const t = await team("probe");
    const other = await team("probed");
    const invite = (email: string) => t.owner.w.submit("/portal/members", "/portal/members", { email, role: "member" });
    expect((await invite("not an email")).status).toBe(303); // refused before it counts
    for (let i = 0; i < 29; i++) expect((await invite(i % 2 ? `probe${i}@example.com` : other.owner.email)).status).toBe(303);
    expect(await flash(t.owner.w, "/portal/members")).toContain("This email is already used by another account.");
    expect((await t.owner.w.submit("/portal/members", `/portal/members/${t.member.memberId}/invite`, {})).status).toBe(303);
    expect(await flash(t.owner.w, "/portal/members")).not.toContain("too many invitations");
    expect((await invite(other.owner.email)).status).toBe(303);
    const html = await flash(t.owner.w, "/portal/members");
    expect(html).toContain("too many invitations in the last hour");
    expect(html).not.toContain("already used by another account");
  });
});

test("an owner's invite for an email another account signs in with is 409 email_taken at once", async () => {
  const a = await team("taken");
  const b = await gw.customer(0);
  const res = await gw.admin(`/admin/accounts/${b.accountId}/invite`, { body: { email: a.member.email } });
  expect(res.status).toBe(409);
  expect(await errorOf(res)).toMatchObject({ code: "email_taken", param: "email" });
  // Nothing was kept: no owner made for b, no link issued.
  expect(sql().query<{ n: number }, [string]>("SELECT count(*) AS n FROM account_members WHERE account_id = ?").get(b.accountId)!.n).toBe(0);
  expect(sql().query<{ n: number }, [string]>("SELECT count(*) AS n FROM invites WHERE account_id = ?").get(b.accountId)!.n).toBe(0);
  // An account whose own email is taken elsewhere: its default invite is refused too.
  const c = (await (await gw.admin("/admin/accounts", { body: { name: "Same email", email: a.owner.email } })).json()) as { id: string };
  expect((await gw.admin(`/admin/accounts/${c.id}/invite`, { body: {} })).status).toBe(409);
  // The owner's own address stays theirs to reset.
  expect((await gw.admin(`/admin/accounts/${a.accountId}/invite`, { body: { email: a.owner.email } })).status).toBe(201);
});

test("PUT /admin/keys/:id/limits refuses a value above the plan, as PATCH does", async () => {
  const c = await gw.customer(0);
  const plan = ((await (await gw.admin(`/admin/accounts/${c.accountId}/plan`)).json()) as { limits: { rpm: number } }).limits;
  const put = (body: unknown) => gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body });
  const res = await put({ rpm: 999_999_999 });
  expect(res.status).toBe(400);
  const e = await errorOf(res);
  expect(e).toMatchObject({ code: "limit_above_plan", param: "rpm" });
  const patched = await errorOf(await gw.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { rpm: 999_999_999 } }));
  expect(e).toEqual(patched);
  expect(((await (await gw.admin(`/admin/keys/${c.keyId}/limits`)).json()) as { overrides: unknown }).overrides).toEqual({ rpm: null, tpm: null, concurrency: null });
  expect((await put({ rpm: plan.rpm })).status).toBe(200);
});
