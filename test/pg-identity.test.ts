/**
 * Identity and keys as units of work, on SQLite and on a real PostgreSQL: keys (create, list,
 * rotate with grace, revoke, update and its refusals, limits, plans), members (invite, accept,
 * role, budget, removal with grace), sessions, the admin token and open sign-up, with the audit
 * rows they write and the races their unique keys settle (two accepts of one link, two sign-ups of
 * one email, two first starts generating the admin token).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { checkAdminToken, endStaleConsoleSessions, resolveAdminToken } from "../src/identity/admin-token";
import { acceptInvite, createInvite, findInvite, findLogin, getLogin, signUp, touchLogin } from "../src/identity/logins/service";
import { completeSignUp, findSignUp, requestSignUp } from "../src/identity/logins/signup";
import { getMemberRow, listMemberRows, ownerMember } from "../src/identity/members";
import { createSession, deleteSession, getPortalSession, getSession } from "../src/identity/sessions";
import { sha256Hex } from "../src/lib/crypto";
import { ApiError } from "../src/lib/errors";
import { BudgetClock } from "../src/money/budget-clock";
import { createAccount } from "../src/modules/accounts/service";
import { listAudit } from "../src/modules/audit/service";
import { createKey, getKeyRow, keyReplaces, keyView, listKeys, revokeKey, rotateKey } from "../src/modules/keys/service";
import { keyOverrides, newestOfLine, updateKey, type UpdateContext } from "../src/modules/keys/update";
import { inviteMember, memberKeyIds, reinviteMember, removeMember, setMemberBudget, setMemberRole } from "../src/modules/members/service";
import { memberViews } from "../src/modules/members/view";
import { getAccountPlan, getKeyLimits, installPolicy, setAccountPlan, setKeyLimits } from "../src/modules/ratelimit/service";
import { PgStore } from "../src/store/pg-store";
import { openStore } from "../src/store/sqlite-store";
import type { Store } from "../src/store/store";
import { all, get, run } from "../src/store/work";
import { freshPostgres } from "./support/postgres";

type Closable = Store & { close(): unknown };
const stores: { name: string; open: () => Promise<Closable> }[] = [
  { name: "sqlite", open: async () => openStore(":memory:") },
  { name: "postgres", open: async () => PgStore.open(await freshPostgres()) },
];

const policy = {
  plans: { default: { rpm: 60, tpm: 100_000, concurrency: 4 }, pro: { rpm: 600, tpm: 1_000_000, concurrency: 16 } },
  default_plan: "default",
  tiers: [{ plan: "pro", min_lifetime_topup_micros: 50_000_000 }],
};
const T0 = Date.UTC(2030, 0, 1);
const ctx = (now = T0): UpdateContext => ({ actor: "admin", now, policy, models: ["grok-4", "grok-3"] });
const link = { ttlMs: 3_600_000, actor: "admin", baseUrl: "https://gw.example" };
const tokenOf = (url: string) => url.split("/").pop()!;

/** The ApiError a promise rejects with (fails the test when it resolves or rejects otherwise). */
async function refusal(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(
    () => new Error("expected a refusal, the promise resolved"),
    (err: unknown) => err,
  );
  if (!(e instanceof ApiError)) throw e;
  return e;
}

const actions = async (store: Store, targetId: string) => (await listAudit(store, { limit: 100, targetId })).map((a) => a.action).reverse();

for (const { name, open } of stores) {
  describe(`identity on ${name}`, () => {
    let store: Closable;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });
    const account = async (n = "Acme", email?: string) => (await createAccount(store, { name: n, email }, "test", T0)).id;

    test("keys: create, list, get, refusals on create, revoke once (audited)", async () => {
      const acc = await account();
      const a = await createKey(store, "sk-", acc, { name: "ci", models: ["grok-4"] }, "admin", T0);
      const b = await createKey(store, "sk-", acc, { spend_cap_micros: 500 }, "admin", T0 + 1);
      expect(a.key.startsWith("sk-")).toBe(true);
      expect((await listKeys(store, acc)).map((k) => k.id)).toEqual([b.row.id, a.row.id]);
      expect(await getKeyRow(store, a.row.id)).toEqual(a.row);
      expect(keyView(a.row, T0).models).toEqual(["grok-4"]);
      expect((await refusal(getKeyRow(store, "key_nope"))).status).toBe(404);
      expect((await refusal(createKey(store, "sk-", "acc_nope", {}, "admin", T0))).status).toBe(404);
      expect((await refusal(createKey(store, "sk-", acc, { expires_at: T0 / 1000 - 1 }, "admin", T0))).param).toBe("expires_at");
      const revoked = await revokeKey(store, a.row.id, "admin", T0 + 5);
      expect(keyView(revoked, T0 + 5).status).toBe("revoked");
      expect((await revokeKey(store, a.row.id, "admin", T0 + 6)).revokedAt).toBe(T0 + 5);
      expect(await actions(store, a.row.id)).toEqual(["key.create", "key.revoke"]);
    });

    test("keys: rotation with grace carries limits, spend and the line's budget spend", async () => {
      const acc = await account();
      const old = await createKey(store, "sk-", acc, { name: "prod", budget: { period: "month", amount_micros: 9 } }, "admin", T0);
      await setKeyLimits(store, policy, old.row.id, { rpm: 10, tpm: null, concurrency: 2 }, "admin", T0);
      await store.tx(function* (q) {
        yield* run(q.db.update(q.t.apiKeys).set({ spentMicros: 70 }).where(eq(q.t.apiKeys.id, old.row.id)));
        yield* run(q.db.insert(q.t.budgetSpend).values({ owner: `key:${old.row.id}`, day: 1, spentMicros: 5 }));
      });
      const { row, key } = await rotateKey(store, old.row.id, 300, "admin", T0 + 10);
      expect(key).not.toBe(old.key);
      expect(row).toMatchObject({ name: "prod", spentMicros: 70, budgetMicros: 9, rotatedTo: null });
      const was = await getKeyRow(store, old.row.id);
      expect(was).toMatchObject({ rotatedTo: row.id, expiresAt: T0 + 10 + 300_000, revokedAt: null });
      expect(keyView(was, T0 + 10 + 300_000).status).toBe("expired");
      expect(await keyOverrides(store, row.id)).toEqual({ rpm: 10, tpm: null, concurrency: 2 });
      const owners = await store.read((q) => all(q.db.select().from(q.t.budgetSpend).orderBy(q.t.budgetSpend.owner)));
      expect(owners.map((o) => o.owner)).toEqual([`key:${row.id}`]);
      expect(await keyReplaces(store, row.id)).toBe(true);
      expect((await newestOfLine(store, was)).id).toBe(row.id);
      expect((await refusal(rotateKey(store, "key_nope", 0, "admin", T0))).status).toBe(404);
      await revokeKey(store, row.id, "admin", T0 + 20);
      expect((await refusal(rotateKey(store, row.id, 0, "admin", T0 + 30))).code).toBe("key_inactive");
      expect(await actions(store, old.row.id)).toEqual(["key.create", "key.limits", "key.rotate"]);
    });

    test("keys: PATCH changes the key and its line, and refuses what it may not be given", async () => {
      const acc = await account();
      const old = await createKey(store, "sk-", acc, {}, "admin", T0);
      const { row: line } = await rotateKey(store, old.row.id, 3600, "admin", T0);
      const changed = await updateKey(store, old.row.id, { name: "renamed", models: ["grok-3"], spend_cap_micros: 42, rpm: 5 }, ctx());
      expect(changed).toMatchObject({ name: "renamed", models: ["grok-3"], spendCapMicros: null });
      expect((await getKeyRow(store, line.id)).spendCapMicros).toBe(42);
      expect(await keyOverrides(store, old.row.id)).toEqual({ rpm: 5, tpm: null, concurrency: null });
      const [entry] = await listAudit(store, { limit: 1, targetId: old.row.id });
      expect(entry).toMatchObject({ action: "key.update", after: { name: "renamed", line_key_id: line.id, limits: { rpm: 5, tpm: null, concurrency: null } } });
      await updateKey(store, old.row.id, { rpm: null }, ctx());
      expect(await keyOverrides(store, old.row.id)).toEqual({ rpm: null, tpm: null, concurrency: null });
      expect((await refusal(updateKey(store, line.id, { models: ["nope"] }, ctx()))).code).toBe("model_not_found");
      expect((await refusal(updateKey(store, line.id, { rpm: 61 }, ctx()))).code).toBe("limit_above_plan");
      expect((await refusal(updateKey(store, line.id, { expires_at: T0 / 1000 - 1 }, ctx()))).param).toBe("expires_at");
      await revokeKey(store, line.id, "admin", T0);
      expect((await refusal(updateKey(store, line.id, { name: "x" }, ctx()))).code).toBe("key_inactive");
    });

    test("plans and key limits: read, change (audited), refuse an unknown plan, tiers from the stored policy", async () => {
      const acc = await account();
      const { row } = await createKey(store, "sk-", acc, {}, "admin", T0);
      expect(await getAccountPlan(store, policy, acc)).toMatchObject({ plan: "default", nextTier: { plan: "pro", minLifetimeTopupMicros: 50_000_000 } });
      expect((await setAccountPlan(store, policy, acc, "pro", "admin", T0)).limits.rpm).toBe(600);
      expect((await refusal(setAccountPlan(store, policy, acc, "gold", "admin", T0))).code).toBe("unknown_plan");
      const limits = await setKeyLimits(store, policy, row.id, { rpm: 100, tpm: null, concurrency: null }, "admin", T0);
      expect(limits).toMatchObject({ plan: "pro", effective: { rpm: 100, tpm: 1_000_000, concurrency: 16 } });
      expect(await getKeyLimits(store, policy, row.id)).toEqual(limits);
      expect(await actions(store, acc)).toEqual(["account.create", "account.plan"]);
      const rich = await account("Rich");
      await store.tx((q) => run(q.db.update(q.t.accounts).set({ lifetimeTopupMicros: 60_000_000 }).where(eq(q.t.accounts.id, rich))));
      expect(await installPolicy(store, policy, T0)).toBeGreaterThanOrEqual(1);
      expect((await getAccountPlan(store, policy, rich)).plan).toBe("pro");
      expect(await installPolicy(store, policy, T0)).toBe(0);
    });

    test("members: owner invite and accept, invite, role, budget, removal with grace", async () => {
      const acc = await account("Team", "Owner@Example.com");
      const inv = await createInvite(store, { accountId: acc, ...link }, T0);
      expect(inv).toMatchObject({ email: "owner@example.com", role: "owner" });
      expect((await findInvite(store, tokenOf(inv.url), T0))?.state).toBe("ok");
      const owner = await acceptInvite(store, tokenOf(inv.url), { email: "owner@example.com", passwordHash: "h" }, T0 + 1);
      expect((await findLogin(store, "OWNER@example.com"))?.memberId).toBe(owner.memberId);
      expect((await getLogin(store, acc))?.id).toBe(owner.memberId);
      await touchLogin(store, owner.memberId, T0 + 2);
      const { member, invite } = await inviteMember(store, { accountId: acc, email: "Dev@Example.com", role: "member", ...link }, T0);
      expect((await refusal(inviteMember(store, { accountId: acc, email: "owner@example.com", role: "member", ...link }, T0))).code).toBe("member_exists");
      const again = await reinviteMember(store, member.id, link, T0 + 3);
      expect((await findInvite(store, tokenOf(invite.url), T0 + 4))?.state).toBe("expired");
      await acceptInvite(store, tokenOf(again.url), { email: "dev@example.com", passwordHash: "h2" }, T0 + 5);
      expect((await listMemberRows(store, acc)).map((m) => m.role)).toEqual(["owner", "member"]);
      expect((await setMemberRole(store, member.id, "admin", "admin", T0)).role).toBe("admin");
      expect((await refusal(setMemberRole(store, owner.memberId, "admin", "admin", T0))).code).toBe("owner_role");
      expect((await setMemberBudget(store, member.id, { period: "week", amount_micros: 7 }, "admin", T0)).budgetMicros).toBe(7);
      const key = await createKey(store, "sk-", acc, {}, "portal", T0, member.id);
      const mine = await createKey(store, "sk-", acc, {}, "admin", T0);
      expect(await memberKeyIds(store, acc, { id: owner.memberId, role: "owner" })).toEqual([mine.row.id]);
      const s = await createSession(store, { kind: "customer", accountId: acc, memberId: member.id, ttlMs: 60_000 }, T0);
      const gone = await removeMember(store, member.id, 60, "admin", T0 + 10);
      expect(gone).toMatchObject({ keys: [key.row.id], stopAt: T0 + 10 + 60_000 });
      expect((await getKeyRow(store, key.row.id)).expiresAt).toBe(T0 + 10 + 60_000);
      expect(await getSession(store, s.token, "customer", T0 + 11)).toBeNull();
      // Removed again with no grace (a key leaked): the key still in its grace is revoked now.
      expect(await removeMember(store, member.id, 0, "admin", T0 + 20)).toMatchObject({ keys: [key.row.id], stopAt: T0 + 20 });
      expect((await getKeyRow(store, key.row.id)).revokedAt).toBe(T0 + 20);
      expect((await removeMember(store, member.id, 0, "admin", T0 + 30)).keys).toEqual([]);
      expect((await refusal(updateKey(store, key.row.id, { name: "x" }, ctx()))).code).toBe("key_inactive");
      expect((await refusal(removeMember(store, owner.memberId, 0, "admin", T0))).code).toBe("owner_role");
      expect(await actions(store, member.id)).toEqual(["member.role", "member.budget", "member.remove", "member.remove"]);
    });

    test("members: refusals on removed or unknown ones, the invite trail, one address won by one member", async () => {
      const acc = await account();
      const a = await inviteMember(store, { accountId: acc, email: `a-${name}@example.com`, role: "member", ...link }, T0);
      const b = await inviteMember(store, { accountId: acc, email: `b-${name}@example.com`, role: "admin", ...link }, T0);
      const email = `same-${name}@example.com`;
      const accepts = await Promise.allSettled(
        [a, b].map((m) => acceptInvite(store, tokenOf(m.invite.url), { email, passwordHash: "h" }, T0 + 1)),
      );
      expect(accepts.map((r) => (r.status === "rejected" ? (r.reason as ApiError).code : "ok")).sort()).toEqual(["email_taken", "ok"]);
      const signIns = (await listMemberRows(store, acc)).filter((m) => m.email === email && m.passwordHash !== null);
      expect(signIns).toHaveLength(1);
      expect(await actions(store, acc)).toEqual(["account.create", "member.invite", "member.invite", "login.set_password"]);
      await removeMember(store, a.member.id, 0, "admin", T0 + 2);
      expect((await refusal(setMemberRole(store, a.member.id, "admin", "admin", T0))).code).toBe("member_removed");
      expect((await refusal(setMemberBudget(store, a.member.id, null, "admin", T0))).code).toBe("member_removed");
      expect((await refusal(reinviteMember(store, a.member.id, link, T0))).code).toBe("member_removed");
      expect((await refusal(removeMember(store, "mem_nope", 0, "admin", T0))).status).toBe(404);
      expect((await refusal(inviteMember(store, { accountId: "acc_nope", email: "x@example.com", role: "member", ...link }, T0))).status).toBe(404);
      expect((await refusal(createInvite(store, { accountId: "acc_nope", ...link }, T0))).status).toBe(404);
      expect((await refusal(setKeyLimits(store, policy, "key_nope", { rpm: 1, tpm: null, concurrency: null }, "admin", T0))).status).toBe(404);
      expect(await findInvite(store, "not-a-token", T0)).toBeNull();
      expect((await refusal(acceptInvite(store, "A".repeat(40), { email: "z@example.com", passwordHash: "h" }, T0))).status).toBe(404);
    });

    test("members: views count live keys and this month's spend per member", async () => {
      const acc = await account();
      await createInvite(store, { accountId: acc, ...link }, T0);
      const owner = (await ownerMember(store, acc))!;
      const key = (await createKey(store, "sk-", acc, {}, "admin", T0)).row.id;
      const clock = new BudgetClock("UTC");
      // A member's spend is what its charges added to budget_spend (the settlement writes it with the usage row),
      // each to the key's days and the member's; 500 went to the key's alone (before any member): the owner's too.
      const day = clock.dayStart(T0 + 1);
      await store.tx((q) => run(q.db.insert(q.t.budgetSpend).values([
        { owner: `member:${owner.id}`, day, spentMicros: 1234 }, { owner: `key:${key}`, day, spentMicros: 1234 + 500 },
      ])));
      const deps = { store, now: () => T0 + 5, credits: { budgetClock: clock, budgets: () => [] } };
      const [view] = await memberViews(deps, acc, [await getMemberRow(store, owner.id)]);
      expect(view).toMatchObject({ role: "owner", status: "invited", active_keys: 1, spent_this_month_micros: 1234 + 500 });
    });

    test("sessions: create, find by kind until expiry, portal session in one read, end; expired ones swept", async () => {
      const acc = await account();
      const s = await createSession(store, { kind: "customer", accountId: acc, ttlMs: 60_000 }, T0);
      expect(await getSession(store, s.token, "customer", T0 + 1)).toMatchObject({ accountId: acc, csrf: s.csrf });
      expect(await getSession(store, s.token, "admin", T0 + 1)).toBeNull();
      expect(await getSession(store, s.token, "customer", T0 + 60_000)).toBeNull();
      const portal = await getPortalSession(store, s.token, T0 + 1);
      expect(portal).toMatchObject({ account: { id: acc }, member: null, session: { token: s.token } });
      await deleteSession(store, s.token);
      expect(await getPortalSession(store, s.token, T0 + 1)).toBeNull();
      const stale = await createSession(store, { kind: "admin", accountId: null, adminHash: sha256Hex("a"), ttlMs: 10 }, T0);
      await createSession(store, { kind: "admin", accountId: null, adminHash: sha256Hex("a"), ttlMs: 10 }, T0 + 1_000);
      expect(await store.read((q) => all(q.db.select().from(q.t.webSessions).where(eq(q.t.webSessions.expiresAt, stale.expiresAt))))).toEqual([]);
    });

    test("admin token: generated once, verified, reused; console sessions of another token end", async () => {
      const first = await resolveAdminToken(store, undefined, T0);
      expect(checkAdminToken(first.generated, first.hash)).toBe(true);
      expect(checkAdminToken(`${first.generated}x`, first.hash)).toBe(false);
      expect(await resolveAdminToken(store, undefined, T0)).toEqual({ hash: first.hash });
      const old = await createSession(store, { kind: "admin", accountId: null, adminHash: sha256Hex("old-token"), ttlMs: 3_600_000 }, Date.now());
      const op = await createSession(store, { kind: "admin", accountId: null, adminHash: first.hash, ttlMs: 3_600_000 }, Date.now());
      expect(await getSession(store, old.token, "admin", Date.now(), first.hash)).toBeNull();
      expect(await endStaleConsoleSessions(store, first.hash, T0)).toBeGreaterThanOrEqual(1);
      expect(await getSession(store, old.token, "admin", Date.now(), sha256Hex("old-token"))).toBeNull();
      expect(await getSession(store, op.token, "admin", Date.now(), first.hash)).toMatchObject({ csrf: op.csrf });
      expect(await endStaleConsoleSessions(store, first.hash, T0)).toBe(0);
      expect(await actions(store, "admin_token_sha256")).toEqual(["admin_token.generate"]);
    });

    test("sign-up: request, confirm with the starter credit (an adjustment), taken emails refused", async () => {
      const p = { name: "New", email: `new-${name}@example.com`, passwordHash: "h", ttlMs: 60_000 };
      const pending = (await requestSignUp(store, p, T0)) as { token: string };
      expect((await findSignUp(store, pending.token, T0 + 1))?.email).toBe(p.email);
      const { account: acc, ownerId } = await completeSignUp(store, pending.token, 2_000_000, T0 + 2);
      expect(acc).toMatchObject({ balanceMicros: 2_000_000, lifetimeTopupMicros: 0, email: p.email });
      // Signing up signs the owner in, and the session it opens is that member's.
      const owner = await store.read((q) => get(q.db.select().from(q.t.accountMembers).where(eq(q.t.accountMembers.accountId, acc.id))));
      expect(owner).toMatchObject({ id: ownerId, role: "owner", lastLoginAt: T0 + 2 });
      const ledger = await store.read((q) => all(q.db.select().from(q.t.ledgerEntries).where(eq(q.t.ledgerEntries.accountId, acc.id))));
      expect(ledger.map((l) => [l.kind, l.ref, l.amountMicros])).toEqual([["adjustment", "signup", 2_000_000]]);
      expect(await actions(store, acc.id)).toEqual(["account.create", "credits.adjustment"]);
      expect(await findSignUp(store, pending.token, T0 + 3)).toBeNull();
      expect((await refusal(completeSignUp(store, pending.token, 0, T0 + 3))).status).toBe(404);
      expect(await requestSignUp(store, p, T0 + 4)).toBeNull();
      expect((await refusal(signUp(store, { ...p, starterMicros: 0 }, T0))).code).toBe("email_taken");
    });

    test("sign-up: a stranger's requests do not void a pending one; five kept per email, later ones dropped", async () => {
      const email = `pending-${name}@example.com`;
      const ask = (i: number) => requestSignUp(store, { name: `P${i}`, email, passwordHash: `h${i}`, ttlMs: 60_000 }, T0 + i);
      const tokens = [];
      for (let i = 0; i < 5; i++) tokens.push(((await ask(i)) as { token: string }).token);
      expect(await ask(5)).toBe("full");
      expect(await ask(6)).toBe("full");
      expect((await findSignUp(store, tokens[0]!, T0 + 10))?.passwordHash).toBe("h0");
      expect((await findSignUp(store, tokens[4]!, T0 + 10))?.passwordHash).toBe("h4");
      await completeSignUp(store, tokens[1]!, 0, T0 + 11);
      for (const t of tokens) expect(await findSignUp(store, t, T0 + 12)).toBeNull();
    });

    test("a link that lets its holder choose the address proves nothing: it takes no member's address", async () => {
      // A member who joined by a link the portal showed their owner (no SMTP), then reset their password the same way.
      const team = await account("Team");
      const ownerActor = `portal:${team}:mem_owner`;
      const email = `dev-${name}@team.test`;
      const m = await inviteMember(store, { accountId: team, email, role: "member", ...link, actor: ownerActor }, T0);
      await acceptInvite(store, tokenOf(m.invite.url), { email, passwordHash: "the member's" }, T0 + 1);
      // The operator's owner invite for an account without an email: its holder chooses the address.
      const other = await account("Another customer's account");
      const inv = await createInvite(store, { accountId: other, ...link }, T0 + 2);
      expect(inv.email).toBeNull();
      expect((await refusal(acceptInvite(store, tokenOf(inv.url), { email, passwordHash: "another's" }, T0 + 3))).code).toBe("email_taken");
      expect((await getMemberRow(store, m.member.id)).passwordHash).toBe("the member's");
    });

    test("an address once proven stays proven after a password reset by a shown link", async () => {
      const team = await account("Proven team");
      const email = `proven-${name}@team.test`;
      // The operator's invite names the address: proven. A later reset the owner's page showed does not undo it.
      const m = await inviteMember(store, { accountId: team, email, role: "member", ...link }, T0);
      await acceptInvite(store, tokenOf(m.invite.url), { email, passwordHash: "first" }, T0 + 1);
      const reset = await reinviteMember(store, m.member.id, { ...link, actor: `portal:${team}:mem_owner` }, T0 + 2);
      await acceptInvite(store, tokenOf(reset.url), { email, passwordHash: "second" }, T0 + 3);
      const elsewhere = await account("Elsewhere");
      const claim = await inviteMember(store, { accountId: elsewhere, email, role: "member", ...link }, T0 + 4).then(() => "invited", (e: ApiError) => e.code);
      expect(claim).toBe("email_taken");
      expect((await getMemberRow(store, m.member.id)).passwordHash).toBe("second");
    });

    test("an address accepted through a portal link its inviter saw gives way to a proven claim", async () => {
      const evil = await account("Evil");
      const owner = `portal:${evil}:mem_owner`;
      const email = `squatted-${name}@example.com`;
      const seen = await inviteMember(store, { accountId: evil, email, role: "member", ...link, actor: owner }, T0);
      await acceptInvite(store, tokenOf(seen.invite.url), { email, passwordHash: "squatter" }, T0 + 1);
      // Sign-up mails its link to the address: the real owner gets one, and using it takes the address.
      const pending = (await requestSignUp(store, { name: "Real", email, passwordHash: "real", ttlMs: 60_000 }, T0 + 2)) as { token: string };
      expect(pending).not.toBeNull();
      const { account: real } = await completeSignUp(store, pending.token, 0, T0 + 3);
      expect(await findLogin(store, email)).toMatchObject({ accountId: real.id, passwordHash: "real" });
      expect((await getMemberRow(store, seen.member.id)).passwordHash).toBeNull();
      expect(await actions(store, seen.member.id)).toEqual(["member.address_released"]);

      // Mailed and not shown, the link proves the address: it stays its member's.
      const mailed = `mailed-${name}@example.com`;
      const m = await inviteMember(store, { accountId: evil, email: mailed, role: "member", ...link, actor: owner, mailedOnly: true }, T0 + 4);
      await acceptInvite(store, tokenOf(m.invite.url), { email: mailed, passwordHash: "member" }, T0 + 5);
      expect(await requestSignUp(store, { name: "Other", email: mailed, passwordHash: "x", ttlMs: 60_000 }, T0 + 6)).toBeNull();
      expect((await refusal(createInvite(store, { accountId: await account("Corp"), email: mailed, ...link }, T0 + 7))).code).toBe("email_taken");
    });

    test("races: two accepts of one link, two sign-ups of one email, two first starts: one wins each", async () => {
      const acc = await account();
      const inv = await createInvite(store, { accountId: acc, ...link }, T0);
      const accepts = await Promise.allSettled([1, 2].map((i) => acceptInvite(store, tokenOf(inv.url), { email: `race-${i}-${name}@example.com`, passwordHash: "h" }, T0 + 1)));
      expect(accepts.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(accepts.map((r) => (r.status === "rejected" ? (r.reason as ApiError).code : "ok")).sort()).toEqual(["invite_used", "ok"]);
      const email = `twice-${name}@example.com`;
      const ups = await Promise.allSettled([1, 2].map((i) => signUp(store, { name: `S${i}`, email, passwordHash: "h", starterMicros: 1 }, T0)));
      expect(ups.map((r) => (r.status === "rejected" ? (r.reason as ApiError).code : "ok")).sort()).toEqual(["email_taken", "ok"]);
      const owners = await store.read((q) => all(q.db.select().from(q.t.accountMembers).where(eq(q.t.accountMembers.email, email))));
      expect(owners).toHaveLength(1);
      const tokens = await Promise.all([1, 2].map(() => resolveAdminToken(fresh!, undefined, T0)));
      expect(tokens.filter((t) => t.generated)).toHaveLength(1);
      expect(tokens[0]!.hash).toBe(tokens[1]!.hash);
    });

    let fresh: Closable | undefined;
    beforeAll(async () => {
      fresh = await open();
    });
    afterAll(async () => {
      await fresh?.close();
    });
  });
}
