import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { chat, user } from "./support/chat";
import { startGateway, TestClock, type Gateway } from "./support/gateway";
import { accept, join, preTeamsDatabase, signIn } from "./support/teams";
import { rawGet } from "./support/raw-http";
import { WebClient } from "./support/web-client";

/**
 * Team accounts: several portal members per account with roles (owner: billing, members, all
 * keys and usage; admin: all keys and usage; member: their own), invited by email link, each
 * page filtered by role, removal with a grace for the member's keys, every change audited, and
 * the one login of the time before teams kept working as the owner.
 */
let gw: Gateway;
const clock = new TestClock();
beforeAll(async () => {
  clock.run();
  gw = await startGateway({ upstream: true, clock });
});
afterAll(() => gw.stop());

let n = 0;
const email = (who: string) => `${who}-${++n}-${Date.now()}@example.com`;
const ask = (key: string) => chat(gw.url, key, { model: "grok-4", max_tokens: 50, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 50 } });
const actions = (target: string) =>
  gw.runtime.deps.store.sqlite.query<{ action: string }, [string]>("SELECT action FROM audit_log WHERE target_id = ? ORDER BY id").all(target).map((r) => r.action);

/** A team: an account with credit, its operator-made key (the owner's), an owner, an admin and a member, each signed in. */
async function team() {
  const c = await gw.customer(20_000_000);
  const owner = await join(gw, c.accountId, "owner", email("owner"));
  const admin = await join(gw, c.accountId, "admin", email("admin"));
  const member = await join(gw, c.accountId, "member", email("member"));
  return { ...c, owner, admin, member };
}

/** Creates a key in the portal as `w` and returns its id and secret. */
async function portalKey(w: WebClient, name: string): Promise<{ id: string; key: string }> {
  expect((await w.submit("/portal/keys", "/portal/keys", { name })).status).toBe(303);
  const html = (await w.page("/portal/keys")).html;
  const key = /<code id="new-key">([^<]+)</.exec(html)![1]!;
  const id = gw.runtime.deps.store.sqlite.query<{ id: string }, [string]>("SELECT id FROM api_keys WHERE last4 = ? ORDER BY created_at DESC").get(key.slice(-4))!.id;
  return { id, key };
}

describe("invites", () => {
  test("a new invite of the same person ends their older link, and only theirs", async () => {
    const c = await gw.customer(0);
    const who = email("dev");
    const invite = async (body: unknown, path = `/admin/accounts/${c.accountId}/members`) =>
      new URL(((await (await gw.admin(path, { body })).json()) as { invite?: { url: string }; url?: string }).invite?.url ?? "").pathname;
    const first = await invite({ email: who, role: "member" });
    const other = await invite({ email: email("other"), role: "admin" });
    const ownerLink = new URL(((await (await gw.admin(`/admin/accounts/${c.accountId}/invite`, { body: { email: email("boss") } })).json()) as { url: string }).url).pathname;
    const second = await invite({ email: who, role: "admin" });
    const anon = new WebClient(gw.url);
    expect((await anon.get(first)).status).toBe(410);
    for (const live of [second, other, ownerLink]) expect((await anon.get(live)).status).toBe(200);
    // Re-inviting keeps one member row, with the newest role.
    const list = (await (await gw.admin(`/admin/accounts/${c.accountId}/members`)).json()) as { data: { email: string; role: string; status: string }[] };
    expect(list.data.filter((m) => m.email === who)).toEqual([expect.objectContaining({ role: "admin", status: "invited" })]);
    expect(list.data[0]!.role).toBe("owner");
    expect((await anon.get(second)).status).toBe(200);
    expect((await anon.get(second)).headers.get("content-type")).toContain("text/html");
    expect((await anon.page(second)).html).toContain("invited to join as an admin of");
  });

  test("someone already in the account, or signing in to another, cannot be invited", async () => {
    const t = await team();
    const again = await gw.admin(`/admin/accounts/${t.accountId}/members`, { body: { email: t.member.email } });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe("member_exists");
    const elsewhere = await gw.customer(0);
    const taken = await gw.admin(`/admin/accounts/${elsewhere.accountId}/members`, { body: { email: t.admin.email } });
    expect(taken.status).toBe(409);
    expect(((await taken.json()) as { error: { message: string } }).error.message).toBe("This email is already used by another account.");
    expect((await gw.admin(`/admin/accounts/${t.accountId}/members`, { body: { email: "not an email" } })).status).toBe(400);
    expect((await gw.admin(`/admin/accounts/${t.accountId}/members`, { body: { email: email("x"), role: "owner" } })).status).toBe(400);
  });
});

describe("roles in the portal", () => {
  test("members see and change only their own keys; owners and admins all; the owner's pages are the owner's", async () => {
    const t = await team();
    const mine = await portalKey(t.member.w, "member key");
    const theirs = await portalKey(t.admin.w, "admin key");
    const memberKeys = (await t.member.w.page("/portal/keys")).html;
    expect(memberKeys).toContain(mine.id);
    expect(memberKeys).not.toContain(theirs.id);
    expect(memberKeys).not.toContain(t.keyId);
    for (const w of [t.owner.w, t.admin.w]) {
      const html = (await w.page("/portal/keys")).html;
      for (const id of [mine.id, theirs.id, t.keyId]) expect(html).toContain(id);
      expect(html).toContain(t.member.email);
    }
    // Another member's key looks missing: rotate and revoke go back with the message.
    const revoke = await t.member.w.submit("/portal/keys", `/portal/keys/${theirs.id}/revoke`, {}, { referer: `${gw.url}/portal/keys` });
    expect(decodeURIComponent(revoke.headers.get("set-cookie") ?? "")).toContain("API key not found");
    expect((await ask(theirs.key)).status).toBe(200);
    // Billing, credits and members are the owner's.
    for (const path of ["/portal/members", "/portal/billing", "/portal/credits"]) {
      expect((await t.member.w.get(path)).status).toBe(403);
      expect((await t.admin.w.get(path)).status).toBe(403);
    }
    expect((await t.owner.w.get("/portal/members")).status).toBe(200);
    // A short Host (under 4 characters) must not make the router serve another path than the guard checked.
    const port = Number(new URL(gw.url).port);
    expect(await rawGet(port, "/xx/portal/members", { host: "a", cookie: t.member.w.header() })).toBe(404);
    expect(await rawGet(port, "/portal/members", { host: "a", cookie: t.member.w.header() })).toBe(403);
    const memberNav = (await t.member.w.page("/portal")).html;
    expect(memberNav).not.toContain('href="/portal/members"');
    expect(memberNav).not.toContain('href="/portal/billing"');
    expect((await t.owner.w.page("/portal")).html).toContain('href="/portal/members"');
  });

  test("an account without credit: only the owner's overview links to the credits page, which only the owner may open", async () => {
    const c = await gw.customer(0);
    const owner = await join(gw, c.accountId, "owner", email("broke-owner"));
    const admin = await join(gw, c.accountId, "admin", email("broke-admin"));
    expect((await owner.w.page("/portal")).html).toContain('href="/portal/credits"');
    for (const w of [admin.w]) {
      const html = (await w.page("/portal")).html;
      expect(html).toContain("owner adds credits");
      expect(html).not.toContain('href="/portal/credits"');
    }
  });

  test("usage per member: members see their own, owners and admins all or one member's", async () => {
    const t = await team();
    const mine = await portalKey(t.member.w, "m");
    const admins = await portalKey(t.admin.w, "a");
    for (const k of [mine.key, admins.key, t.key, t.key]) expect((await ask(k)).status).toBe(200);
    await gw.runtime.deps.credits.flush();
    const total = async (w: WebClient, q = "") => /data-testid="total-requests">([\d,]+)</.exec((await w.page(`/portal/usage${q}`)).html)![1];
    expect(await total(t.member.w)).toBe("1");
    // A member cannot widen the filter to others' keys.
    expect(await total(t.member.w, `?key=${t.keyId}`)).toBe("0");
    expect(await total(t.owner.w)).toBe("4");
    expect(await total(t.admin.w, `?member=${t.member.memberId}`)).toBe("1");
    // Keys the operator made are the owner's.
    expect(await total(t.owner.w, `?member=${t.owner.memberId}`)).toBe("2");
    const csv = await (await t.member.w.get("/portal/usage.csv")).text();
    expect(csv.trim().split("\r\n")).toHaveLength(2);
    // On the API: a member-role key sees its member's usage, the owner's key the account's.
    const usage = async (key: string) => ((await (await fetch(`${gw.url}/v1/usage`, { headers: { authorization: `Bearer ${key}` } })).json()) as { totals: { requests: number } }).totals.requests;
    expect(await usage(mine.key)).toBe(1);
    expect(await usage(admins.key)).toBe(4);
    expect(await usage(t.key)).toBe(4);
    const members = (await (await gw.admin(`/admin/accounts/${t.accountId}/members`)).json()) as { data: { id: string; spent_this_month_micros: number; active_keys: number }[] };
    const byId = new Map(members.data.map((m) => [m.id, m]));
    expect(byId.get(t.member.memberId)).toMatchObject({ spent_this_month_micros: 10 * 3 + 50 * 15, active_keys: 1 });
    expect(byId.get(t.owner.memberId)).toMatchObject({ spent_this_month_micros: 2 * (10 * 3 + 50 * 15), active_keys: 1 });
    const filtered = (await (await gw.admin(`/admin/usage?member_id=${t.member.memberId}`)).json()) as { totals: { requests: number } };
    expect(filtered.totals.requests).toBe(1);
    // Filters narrow: a member of another account than account_id matches nothing.
    const other = await gw.customer(1_000_000);
    const crossed = (await (await gw.admin(`/admin/usage?account_id=${other.accountId}&member_id=${t.member.memberId}`)).json()) as { data: unknown[]; totals: { requests: number } };
    expect({ rows: crossed.data.length, requests: crossed.totals.requests }).toEqual({ rows: 0, requests: 0 });
  });

  test("a role change applies from the member's next page, audited; the owner's role and membership stay", async () => {
    const t = await team();
    expect((await t.member.w.get("/portal/keys")).status).toBe(200);
    expect((await t.member.w.page("/portal/keys")).html).not.toContain(t.keyId);
    const r = await gw.admin(`/admin/members/${t.member.memberId}`, { method: "PATCH", body: { role: "admin" } });
    expect(r.status).toBe(200);
    expect((await t.member.w.page("/portal/keys")).html).toContain(t.keyId);
    expect(actions(t.member.memberId)).toEqual(["member.role"]);
    const owner = await gw.admin(`/admin/members/${t.owner.memberId}`, { method: "PATCH", body: { role: "member" } });
    expect(owner.status).toBe(400);
    expect((await gw.admin(`/admin/members/${t.owner.memberId}`, { method: "DELETE" })).status).toBe(400);
  });

  test("rotating shows the new secret, so it is for the key's maker or the owner: an admin revokes the owner's keys but gets none", async () => {
    const t = await team();
    const owners = await portalKey(t.owner.w, "owner key");
    const admins = await portalKey(t.admin.w, "admin key");
    const keyCount = () => gw.runtime.deps.store.sqlite.query<{ n: number }, [string]>("SELECT count(*) AS n FROM api_keys WHERE account_id = ?").get(t.accountId)!.n;
    const before = keyCount();
    const rotate = (w: WebClient, id: string) => w.submit("/portal/keys", `/portal/keys/${id}/rotate`, { grace_seconds: "0" });
    const newKey = async (w: WebClient) => /<code id="new-key">([^<]+)</.exec((await w.page("/portal/keys")).html)?.[1];
    const page = (await t.admin.w.page("/portal/keys")).html;
    expect(page).not.toContain(`/portal/keys/${owners.id}/rotate`);
    expect(page).toContain(`/portal/keys/${admins.id}/rotate`);
    // The operator's key (the owner's) and the owner's own: refused with why, nothing issued.
    for (const id of [t.keyId, owners.id]) {
      const res = await rotate(t.admin.w, id);
      expect(res.status).toBe(303);
      expect(decodeURIComponent(res.headers.get("set-cookie") ?? "")).toContain("Only the member who made this key, or the account's owner, can rotate it");
      expect(await newKey(t.admin.w)).toBeUndefined();
      expect(actions(id)).not.toContain("key.rotate");
    }
    expect(keyCount()).toBe(before);
    expect((await gw.me(owners.key)).status).toBe(200);
    // Their own key they rotate; the owner rotates theirs too, and the replacement stays the admin's.
    expect((await rotate(t.admin.w, admins.id)).status).toBe(303);
    const second = (await newKey(t.admin.w))!;
    const secondId = ((await (await gw.me(second)).json()) as { key: { id: string } }).key.id;
    expect((await rotate(t.owner.w, secondId)).status).toBe(303);
    const third = (await newKey(t.owner.w))!;
    const thirdId = ((await (await gw.me(third)).json()) as { key: { id: string } }).key.id;
    expect(gw.runtime.deps.store.sqlite.query<{ member_id: string }, [string]>("SELECT member_id FROM api_keys WHERE id = ?").get(thirdId)!.member_id).toBe(t.admin.memberId);
    expect((await gw.me(second)).status).toBe(401);
    // Revoking the owner's key is still the admin's to do.
    const revoke = await t.admin.w.submit("/portal/keys", `/portal/keys/${owners.id}/revoke`, {});
    expect(decodeURIComponent(revoke.headers.get("set-cookie") ?? "")).toContain("revoked");
    expect((await gw.me(owners.key)).status).toBe(401);
  });
});

describe("removing a member", () => {
  test("grace 0: signed out, links ended and keys revoked at once; they cannot sign in again", async () => {
    const t = await team();
    const k = await portalKey(t.member.w, "to go");
    const link = ((await (await gw.admin(`/admin/members/${t.member.memberId}/invite`, { body: {} })).json()) as { url: string }).url;
    const res = await gw.admin(`/admin/members/${t.member.memberId}?grace_seconds=0`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "removed", revoked_keys: [k.id] });
    expect((await ask(k.key)).status).toBe(401);
    expect((await t.member.w.get("/portal")).headers.get("location")).toStartWith("/portal/login");
    expect((await new WebClient(gw.url).get(new URL(link).pathname)).status).toBe(410);
    expect((await signIn(gw.url, t.member.email)).status).toBe(401);
    expect(actions(t.member.memberId)).toEqual(["member.remove"]);
    // Removed members can be invited again, as a new member.
    expect((await gw.admin(`/admin/accounts/${t.accountId}/members`, { body: { email: t.member.email } })).status).toBe(201);
  });

  test("with a grace, the member's keys keep working until it ends, then stop (their expiry)", async () => {
    const t = await team();
    const k = await portalKey(t.member.w, "grace");
    clock.freeze();
    try {
      // The owner removes them in the portal with 1 hour of grace.
      const res = await t.owner.w.submit("/portal/members", `/portal/members/${t.member.memberId}/remove`, { grace_seconds: "3600" });
      expect(res.status).toBe(303);
      expect(decodeURIComponent(res.headers.get("set-cookie") ?? "")).toContain("1 key(s) stop working later");
      expect((await ask(k.key)).status).toBe(200);
      clock.add(3_600_000 + 1);
      const gone = await ask(k.key);
      expect(gone.status).toBe(401);
      expect(((await gone.json()) as { error: { message: string } }).error.message).toBe("This API key has expired.");
      // A removed member's key cannot be given a new expiry.
      expect((await gw.admin(`/admin/keys/${k.id}`, { method: "PATCH", body: { expires_at: null } })).status).toBe(400);
    } finally {
      clock.run();
    }
  });
});

describe("the owner's Members page", () => {
  test("invite (the link shown once), budget and role, each audited", async () => {
    const t = await team();
    const who = email("new");
    const sent = await t.owner.w.submit("/portal/members", "/portal/members", { email: who, role: "admin" });
    expect(sent.status).toBe(303);
    const page = (await t.owner.w.page("/portal/members")).html;
    const url = /<code id="invite-url">([^<]+)</.exec(page)![1]!;
    expect((await t.owner.w.page("/portal/members")).html).not.toContain(url);
    const newcomer = await accept(gw.url, url, who);
    expect((await newcomer.page("/portal/keys")).html).toContain(t.keyId);
    const row = (await (await gw.admin(`/admin/accounts/${t.accountId}/members`)).json()) as { data: { id: string; email: string }[] };
    const id = row.data.find((m) => m.email === who)!.id;
    expect((await t.owner.w.submit("/portal/members", `/portal/members/${id}/budget`, { budget_usd: "12.5", budget_period: "week" })).status).toBe(303);
    expect((await t.owner.w.submit("/portal/members", `/portal/members/${id}/role`, { role: "member" })).status).toBe(303);
    const m = (await (await gw.admin(`/admin/members/${id}`)).json()) as { role: string; budget: unknown };
    expect(m).toMatchObject({ role: "member", budget: { period: "week", amount_micros: 12_500_000 } });
    expect(actions(id)).toEqual(["member.budget", "member.role"]);
    const invited = gw.runtime.deps.store.sqlite.query<{ actor: string }, [string]>("SELECT actor FROM audit_log WHERE action = 'member.invite' AND target_id = ? ORDER BY id DESC").get(t.accountId)!;
    expect(invited.actor).toBe(`portal:${t.accountId}:${t.owner.memberId}`);
    // Another account's member looks missing from here, and stays.
    const other = await team();
    const cross = await t.owner.w.submit("/portal/members", `/portal/members/${other.member.memberId}/remove`, { grace_seconds: "0" });
    expect(decodeURIComponent(cross.headers.get("set-cookie") ?? "")).toContain("Member not found");
    expect(((await (await gw.admin(`/admin/members/${other.member.memberId}`)).json()) as { status: string }).status).toBe("active");
  });
});

describe("from the time before teams", () => {
  test("the one login becomes the owner: password, open session, invite link and keys keep working", async () => {
    const dir = mkdtempSync(joinPath(tmpdir(), "tollgate-preteams-"));
    const dbPath = joinPath(dir, "old.db");
    try {
      const old = await preTeamsDatabase(dbPath);
      const g = await startGateway({ dbPath, upstream: true });
      try {
        const members = (await (await g.admin(`/admin/accounts/${old.accountId}/members`)).json()) as { data: { id: string; email: string; role: string; status: string; active_keys: number }[] };
        expect(members.data).toEqual([expect.objectContaining({ email: old.email, role: "owner", status: "active", active_keys: 1 })]);
        expect((await signIn(g.url, old.email, old.password)).status).toBe(303);
        const session = new WebClient(g.url);
        session.cookies.set("tg_portal", old.session);
        expect((await session.get("/portal/members")).status).toBe(200);
        expect((await new WebClient(g.url).get(`/portal/invite/${old.inviteToken}`)).status).toBe(200);
        const me = (await (await g.me(old.key)).json()) as { key: { member_id: string } };
        expect(me.key.member_id).toBe(members.data[0]!.id);
      } finally {
        await g.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
