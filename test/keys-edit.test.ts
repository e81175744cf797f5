import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chat, user } from "./support/chat";
import { startGateway, TestClock, type Gateway } from "./support/gateway";
import { WebClient } from "./support/web-client";

/**
 * Editing a key in place: PATCH /admin/keys/:id changes name, models, expiry, cap, limits and
 * budget, from the key's next request, audited with before and after; a rotated key's cap and
 * budget go to the newest key of its line; nobody may raise limits above the plan. The portal's
 * edit form does the same within what the member's role allows.
 */
let gw: Gateway;
const clock = new TestClock();
beforeAll(async () => {
  gw = await startGateway({ upstream: true, clock, config: { plans: { default: { rpm: 100, tpm: 1_000_000, concurrency: 10 } } } });
});
afterAll(() => gw.stop());

const patch = (id: string, body: unknown) => gw.admin(`/admin/keys/${id}`, { method: "PATCH", body });
const ask = (key: string, model = "grok-4") => chat(gw.url, key, { model, max_tokens: 100, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 100 } });
const audits = (id: string) =>
  gw.runtime.deps.store.sqlite.query<{ action: string; actor: string; before: string; after: string }, [string]>("SELECT action, actor, before, after FROM audit_log WHERE target_id = ? ORDER BY id").all(id);
/** A key's rate-limit overrides (GET /admin/keys/:id/limits). */
const overrides = async (id: string) => ((await (await gw.admin(`/admin/keys/${id}/limits`)).json()) as { overrides: Key["limits"] }).overrides;
type Key = { id: string; name: string; models: string[] | null; expires_at: number | null; spend_cap_micros: number | null; budget: unknown; limits: { rpm: number | null; tpm: number | null; concurrency: number | null } };

describe("PATCH /admin/keys/:id", () => {
  test("changes every setting at once, audited with before and after", async () => {
    const c = await gw.customer(10_000_000, { name: "ci" });
    const expires = Math.floor(clock.now() / 1000) + 86_400;
    const res = await patch(c.keyId, {
      name: "ci-2", models: ["grok-4"], expires_at: expires, spend_cap_micros: 5_000_000, rpm: 20, concurrency: 2,
      budget: { period: "week", amount_micros: 1_000_000 },
    });
    expect(res.status).toBe(200);
    const k = (await res.json()) as Key;
    expect(k).toMatchObject({ name: "ci-2", models: ["grok-4"], expires_at: expires, spend_cap_micros: 5_000_000, budget: { period: "week", amount_micros: 1_000_000 } });
    expect(k.limits).toEqual({ rpm: 20, tpm: null, concurrency: 2 });
    expect(await overrides(c.keyId)).toEqual(k.limits);
    const a = audits(c.keyId).filter((r) => r.action === "key.update");
    expect(a).toHaveLength(1);
    expect(a[0]!.actor).toBe("admin");
    expect(JSON.parse(a[0]!.before)).toMatchObject({ name: "ci", models: null, expiresAt: null, spendCapMicros: null, budgetMicros: null, limits: { rpm: null, tpm: null, concurrency: null } });
    expect(JSON.parse(a[0]!.after)).toMatchObject({ name: "ci-2", models: ["grok-4"], spendCapMicros: 5_000_000, budgetMicros: 1_000_000, budgetPeriod: "week", limits: { rpm: 20, tpm: null, concurrency: 2 } });
    // Null removes, absent leaves alone.
    const cleared = (await (await patch(c.keyId, { models: null, rpm: null, budget: null })).json()) as Key;
    expect(cleared).toMatchObject({ name: "ci-2", models: null, spend_cap_micros: 5_000_000, budget: null, limits: { rpm: null, tpm: null, concurrency: 2 } });
  });

  test("applies from the key's next request: models, cap, limits and expiry", async () => {
    clock.freeze();
    const c = await gw.customer(10_000_000);
    expect((await ask(c.key, "grok-3")).status).toBe(200);
    await patch(c.keyId, { models: ["grok-4"] });
    const refused = await ask(c.key, "grok-3");
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("model_not_found");
    expect((await ask(c.key)).status).toBe(200);
    // A cap below what the key already spent stops it.
    await patch(c.keyId, { spend_cap_micros: 1_000 });
    const capped = await ask(c.key);
    expect(capped.status).toBe(402);
    expect(((await capped.json()) as { error: { code: string } }).error.code).toBe("spend_cap_reached");
    await patch(c.keyId, { spend_cap_micros: null, rpm: 1 });
    expect((await ask(c.key)).status).toBe(200);
    expect((await ask(c.key)).status).toBe(429);
    await patch(c.keyId, { rpm: null, expires_at: Math.floor(clock.now() / 1000) + 60 });
    clock.add(61_000);
    expect((await gw.me(c.key)).status).toBe(401);
    // An expired key may be given a new expiry (it works again); a past one is refused.
    const past = await patch(c.keyId, { expires_at: Math.floor(clock.now() / 1000) - 1 });
    expect(past.status).toBe(400);
    expect((await patch(c.keyId, { expires_at: null })).status).toBe(200);
    expect((await gw.me(c.key)).status).toBe(200);
    clock.run();
  });

  test("a rotated key's cap and budget are set on the newest key of its line, which carries the spend", async () => {
    const c = await gw.customer(10_000_000, { spend_cap_micros: 9_000_000 });
    const rotated = (await (await gw.admin(`/admin/keys/${c.keyId}/rotate`, { body: { grace_seconds: 3600 } })).json()) as { id: string; key: string };
    const res = await patch(c.keyId, { spend_cap_micros: 1_000, budget: { period: "day", amount_micros: 500 }, name: "old one" });
    expect(res.status).toBe(200);
    const newest = (await (await gw.admin(`/admin/keys/${rotated.id}`)).json()) as Key;
    expect(newest).toMatchObject({ spend_cap_micros: 1_000, budget: { period: "day", amount_micros: 500 } });
    expect(newest.name).not.toBe("old one");
    const a = audits(c.keyId).find((r) => r.action === "key.update")!;
    expect(JSON.parse(a.after).line_key_id).toBe(rotated.id);
    // Both keys of the line are held to it.
    for (const key of [c.key, rotated.key]) {
      const r = await ask(key);
      expect(r.status).toBe(402);
      expect(["spend_cap_reached", "budget_exhausted"]).toContain(((await r.json()) as { error: { code: string } }).error.code);
    }
  });

  test("refuses limits above the plan, unknown models and fields, and revoked keys", async () => {
    const c = await gw.customer(1_000_000);
    const above = await patch(c.keyId, { rpm: 101 });
    expect(above.status).toBe(400);
    expect(((await above.json()) as { error: { code: string; param: string; message: string } }).error).toMatchObject({
      code: "limit_above_plan", param: "rpm", message: "rpm 101 is above the account's plan (default: 100); a key can only be limited further.",
    });
    expect((await patch(c.keyId, { rpm: 100 })).status).toBe(200);
    expect((await patch(c.keyId, { models: ["gpt-9"] })).status).toBe(400);
    expect((await patch(c.keyId, { spend_cap: 5 })).status).toBe(400);
    expect((await patch(c.keyId, { budget: { period: "year", amount_micros: 5 } })).status).toBe(400);
    expect((await patch("key_missing", { name: "x" })).status).toBe(404);
    await gw.admin(`/admin/keys/${c.keyId}`, { method: "DELETE" });
    const revoked = await patch(c.keyId, { name: "back" });
    expect(revoked.status).toBe(400);
    expect(((await revoked.json()) as { error: { code: string } }).error.code).toBe("key_inactive");
  });
});

describe("POST /admin/accounts/:id/keys", () => {
  test("refuses unknown models as the edit does (same code, param and message), storing nothing", async () => {
    const c = await gw.customer(0);
    const keys = async () => ((await (await gw.admin(`/admin/accounts/${c.accountId}/keys`)).json()) as { data: unknown[] }).data.length;
    const created = await gw.admin(`/admin/accounts/${c.accountId}/keys`, { body: { name: "typo", models: ["grok-4", "gpt-9", "grok-5"] } });
    expect(created.status).toBe(400);
    const edited = await patch(c.keyId, { models: ["grok-4", "gpt-9", "grok-5"] });
    expect(edited.status).toBe(400);
    const error = ((await created.json()) as { error: unknown }).error;
    expect(error).toEqual({ type: "invalid_request_error", code: "model_not_found", param: "models", message: "Unknown model: gpt-9, grok-5." });
    expect(((await edited.json()) as { error: unknown }).error).toEqual(error);
    expect(await keys()).toBe(1);
    const ok = await gw.admin(`/admin/accounts/${c.accountId}/keys`, { body: { models: ["grok-4", "grok-3"] } });
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as Key).models).toEqual(["grok-4", "grok-3"]);
  });
});

/** Signs a member in through their invite link, in a fresh WebClient. */
async function join(accountId: string, role: "owner" | "admin" | "member", email: string): Promise<{ w: WebClient; memberId: string }> {
  const body = role === "owner" ? { email } : { email, role };
  const res = await gw.admin(role === "owner" ? `/admin/accounts/${accountId}/invite` : `/admin/accounts/${accountId}/members`, { body });
  const made = (await res.json()) as { url?: string; member_id?: string; invite?: { url: string; member_id: string } };
  const url = made.invite?.url ?? made.url!;
  const w = new WebClient(gw.url);
  const path = new URL(url).pathname;
  expect((await w.submit(path, path, { email, password: "correct horse battery", confirm: "correct horse battery" })).status).toBe(303);
  return { w, memberId: made.invite?.member_id ?? made.member_id! };
}

describe("the portal's key edit form", () => {
  test("members edit their own keys only; owners and admins any; never above the plan", async () => {
    const c = await gw.customer(10_000_000);
    const tag = Math.random().toString(36).slice(2, 8);
    const owner = await join(c.accountId, "owner", `owner-${tag}@example.com`);
    const admin = await join(c.accountId, "admin", `admin-${tag}@example.com`);
    const member = await join(c.accountId, "member", `member-${tag}@example.com`);
    // The member makes a key in the portal: it is theirs.
    expect((await member.w.submit("/portal/keys", "/portal/keys", { name: "mine" })).status).toBe(303);
    const mine = gw.runtime.deps.store.sqlite.query<{ id: string }, [string]>("SELECT id FROM api_keys WHERE member_id = ?").get(member.memberId)!.id;
    const form = { name: "mine, renamed", expires_on: "", spend_cap_usd: "2.5", budget_usd: "1", budget_period: "week", rpm: "30", tpm: "", concurrency: "" };
    const saved = await member.w.submit(`/portal/keys/${mine}/edit`, `/portal/keys/${mine}/edit`, form);
    expect(saved.status).toBe(303);
    expect(saved.headers.get("location")).toBe("/portal/keys");
    const k = (await (await gw.admin(`/admin/keys/${mine}`)).json()) as Key;
    expect(k).toMatchObject({ name: "mine, renamed", spend_cap_micros: 2_500_000, budget: { period: "week", amount_micros: 1_000_000 } });
    expect(await overrides(mine)).toEqual({ rpm: 30, tpm: null, concurrency: null });
    const a = audits(mine).find((r) => r.action === "key.update")!;
    expect(a.actor).toBe(`portal:${c.accountId}:${member.memberId}`);
    expect(Object.keys(JSON.parse(a.after)).sort()).toEqual(["budgetMicros", "budgetPeriod", "limits", "name", "spendCapMicros"]);
    // The owner's key (made by the operator) is not the member's: it looks missing to them.
    expect((await member.w.get(`/portal/keys/${c.keyId}/edit`)).status).toBe(404);
    expect((await member.w.post(`/portal/keys/${c.keyId}/edit`, { _csrf: "x", name: "hijack" })).status).toBe(403);
    // Admins and owners edit anyone's key; above the plan is refused with the reason.
    const tooMuch = await admin.w.submit(`/portal/keys/${mine}/edit`, `/portal/keys/${mine}/edit`, { ...form, rpm: "1000" }, { referer: `${gw.url}/portal/keys/${mine}/edit` });
    expect(tooMuch.status).toBe(400);
    const again = await tooMuch.text();
    expect(again).toContain("above the account&#39;s plan");
    // The form comes back as typed, the message next to the field the service named.
    expect(again).toMatch(/name="rpm" type="number" value="1000" aria-invalid="true"/);
    expect((await owner.w.submit(`/portal/keys/${mine}/edit`, `/portal/keys/${mine}/edit`, { ...form, rpm: "" })).status).toBe(303);
    expect((await overrides(mine)).rpm).toBeNull();
    expect((await owner.w.page(`/portal/keys/${c.keyId}/edit`)).html).toContain("Save changes");
  });
});
