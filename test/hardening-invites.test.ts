import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sha256Hex } from "../src/lib/crypto";
import { startGateway, type Gateway } from "./support/gateway";
import { csrfOf, WebClient } from "./support/web-client";
import { startSmtp } from "./support/smtp";
import { startupWarnings } from "../src/runtime/warnings";
import { accept, join, signIn } from "./support/teams";

/**
 * An invite link doubles as a password reset that signs the owner out everywhere: an older link
 * that was never used (forwarded, leaked, in an old email) must stop working as soon as a newer
 * one is issued or any one is used. And it signs in only with the address it was made for.
 */
let srv: Gateway;
beforeAll(async () => {
  srv = await startGateway();
});
afterAll(() => srv.stop());

const PASSWORD = "correct horse battery";
const invite = async (accountId: string, email = "owner@example.com") =>
  new URL(((await (await srv.admin(`/admin/accounts/${accountId}/invite`, { body: { email } })).json()) as { url: string }).url).pathname;

describe("invites", () => {
  test("issuing an invite invalidates the older ones: an old link can neither reset the password nor sign the owner out", async () => {
    const c = await srv.customer(0);
    const first = await invite(c.accountId);
    const owner = new WebClient(srv.url);
    expect((await owner.submit(first, first, { email: "owner@example.com", password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
    expect((await owner.get("/portal")).status).toBe(200);

    const leaked = await invite(c.accountId);
    const reset = await invite(c.accountId);
    const attacker = new WebClient(srv.url);
    expect((await attacker.get(leaked)).status).toBe(410);
    const tried = await attacker.post(leaked, { email: "owner@example.com", password: "attacker password", confirm: "attacker password", _csrf: "x" });
    expect(tried.status).toBe(410);
    // The owner is still signed in; the newest link still works.
    expect((await owner.get("/portal")).status).toBe(200);
    expect((await new WebClient(srv.url).get(reset)).status).toBe(200);
  });

  test("using an invite invalidates every other open invite of the account", async () => {
    const c = await srv.customer(0);
    const used = await invite(c.accountId, "owner2@example.com");
    // An open invite made before this rule existed (or alongside): a row with its own token.
    const token = "OlderInviteToken0123456789abcdefABCDEF01";
    srv.runtime.deps.store.sqlite
      .query("INSERT INTO invites (id, account_id, token_hash, email, expires_at, used_at, created_by, created_at) VALUES (?, ?, ?, NULL, ?, NULL, 'admin', ?)")
      .run("inv_older_one", c.accountId, sha256Hex(token), Date.now() + 3_600_000, Date.now() - 1_000);
    const older = `/portal/invite/${token}`;
    expect((await new WebClient(srv.url).get(older)).status).toBe(200);

    const owner = new WebClient(srv.url);
    expect((await owner.submit(used, used, { email: "owner2@example.com", password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
    const attacker = new WebClient(srv.url);
    expect((await attacker.get(older)).status).toBe(410);
    expect((await owner.get("/portal")).status).toBe(200);
  });

  test("an invite made for an address is accepted as that address only; one without an address takes the one chosen", async () => {
    const c = await srv.customer(0);
    const made = (await (await srv.admin(`/admin/accounts/${c.accountId}/members`, { body: { email: "dev@invited.test", role: "member" } })).json()) as { invite: { url: string } };
    const link = new URL(made.invite.url).pathname;
    const w = new WebClient(srv.url);
    expect((await w.page(link)).html).toMatch(/name="email" type="email" value="dev@invited.test" required[^>]*readonly/);
    const other = await w.submit(link, link, { email: "someone@else.test", password: PASSWORD, confirm: PASSWORD });
    expect(other.status).toBe(400);
    expect(await other.text()).toContain("This invite is for dev@invited.test: accept it with that address");
    const logins = (email: string) => srv.runtime.deps.store.sqlite.query<{ n: number }, [string]>("SELECT count(*) AS n FROM account_members WHERE email = ? AND password_hash IS NOT NULL").get(email)!.n;
    expect(logins("someone@else.test")).toBe(0);
    expect(logins("dev@invited.test")).toBe(0);
    // The address stays free for whoever owns it, and the link still works for the one invited.
    expect((await w.submit(link, link, { email: "Dev@Invited.test", password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
    expect(logins("dev@invited.test")).toBe(1);
    // The operator's invite for an account with no email names none: its holder chooses.
    const bare = await srv.customer(0);
    const open = new URL(((await (await srv.admin(`/admin/accounts/${bare.accountId}/invite`, { body: {} })).json()) as { url: string }).url).pathname;
    expect((await new WebClient(srv.url).submit(open, open, { email: "chosen@bare.test", password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
    expect(logins("chosen@bare.test")).toBe(1);
  });
});

describe("an address taken through a link its inviter saw (no SMTP: the Members page shows the link)", () => {
  const stamp = () => crypto.randomUUID().slice(0, 8);
  const logins = (email: string) =>
    srv.runtime.deps.store.sqlite.query<{ account_id: string }, [string]>("SELECT account_id FROM account_members WHERE email = ? AND password_hash IS NOT NULL AND removed_at IS NULL").all(email);
  /** An owner who invites `email` from the Members page and accepts the link shown as that address. */
  async function squat(email: string) {
    const evil = await srv.customer(0);
    const owner = await join(srv, evil.accountId, "owner", `squatter-${stamp()}@example.com`);
    expect((await owner.w.submit("/portal/members", "/portal/members", { email, role: "member" })).status).toBe(303);
    const url = /(http:\/\/[^"<\s]+\/portal\/invite\/[0-9A-Za-z]+)/.exec((await owner.w.page("/portal/members")).html)![1]!;
    await accept(srv.url, url, email, "the squatter's password");
    return { accountId: evil.accountId, owner };
  }

  test("does not keep the operator from inviting its real owner, who then takes it", async () => {
    const email = `ceo-${stamp()}@bigcorp.test`;
    const evil = await squat(email);
    expect(logins(email)).toEqual([{ account_id: evil.accountId }]);
    // Another owner's shown link proves no more: still refused.
    const other = await join(srv, (await srv.customer(0)).accountId, "owner", `other-${stamp()}@example.com`);
    await other.w.submit("/portal/members", "/portal/members", { email, role: "member" });
    expect((await other.w.page("/portal/members")).html).toContain("already used by another account");

    const corp = await srv.customer(0);
    const made = await srv.admin(`/admin/accounts/${corp.accountId}/invite`, { body: { email } });
    expect(made.status).toBe(201);
    await accept(srv.url, ((await made.json()) as { url: string }).url, email, PASSWORD);
    expect(logins(email)).toEqual([{ account_id: corp.accountId }]);
    expect((await signIn(srv.url, email, "the squatter's password")).status).toBe(401);
    expect((await signIn(srv.url, email, PASSWORD)).status).toBe(303);
    // The squatter's member is invited again, and a new link of theirs cannot take the address back.
    const members = (await evil.owner.w.page("/portal/members")).html;
    expect(members).toContain(email);
    const memberId = srv.runtime.deps.store.sqlite.query<{ id: string }, [string, string]>("SELECT id FROM account_members WHERE account_id = ? AND email = ?").get(evil.accountId, email)!.id;
    await evil.owner.w.submit("/portal/members", `/portal/members/${memberId}/invite`, {});
    const again = /(http:\/\/[^"<\s]+\/portal\/invite\/[0-9A-Za-z]+)/.exec((await evil.owner.w.page("/portal/members")).html)![1]!;
    const path = new URL(again).pathname;
    const retake = await new WebClient(srv.url).submit(path, path, { email, password: PASSWORD, confirm: PASSWORD });
    expect(retake.status).toBe(409);
    expect(logins(email)).toEqual([{ account_id: corp.accountId }]);
  });

  test("an address chosen on an owner invite naming none stays unproven after the owner's own shown New link", async () => {
    const email = `ceo-${stamp()}@bigcorp.test`;
    const acc = await srv.customer(0);
    const made = (await (await srv.admin(`/admin/accounts/${acc.accountId}/invite`, { body: {} })).json()) as { url: string; email: string | null };
    expect(made.email).toBeNull();
    const w = await accept(srv.url, made.url, email, "the squatter's password");
    const ownerId = srv.runtime.deps.store.sqlite.query<{ id: string }, [string, string]>("SELECT id FROM account_members WHERE account_id = ? AND email = ?").get(acc.accountId, email)!.id;
    // No SMTP: the owner's link to themselves is shown on the page, and accepted.
    expect((await w.submit("/portal/members", `/portal/members/${ownerId}/invite`, {})).status).toBe(303);
    const shown = /(http:\/\/[^"<\s]+\/portal\/invite\/[0-9A-Za-z]+)/.exec((await w.page("/portal/members")).html)![1]!;
    const path = new URL(shown).pathname;
    expect((await new WebClient(srv.url).submit(path, path, { email, password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
    // Nothing proved the address: the operator's invite of it to another account still takes it.
    const corp = await srv.customer(0);
    expect((await srv.admin(`/admin/accounts/${corp.accountId}/invite`, { body: { email } })).status).toBe(201);
  });

  test("an address the operator's own invite gave still belongs to its member", async () => {
    const email = `dev-${stamp()}@team.test`;
    const team = await srv.customer(0);
    await join(srv, team.accountId, "member", email);
    const elsewhere = await srv.customer(0);
    expect((await srv.admin(`/admin/accounts/${elsewhere.accountId}/invite`, { body: { email } })).status).toBe(409);
    expect(logins(email)).toEqual([{ account_id: team.accountId }]);
  });
});

describe("SMTP without public_url", () => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let gw: Gateway;
  beforeAll(async () => {
    smtp = await startSmtp();
    gw = await startGateway({ config: { smtp_host: "127.0.0.1", smtp_port: smtp.port, smtp_from: "portal@gw.example.com" } });
  });
  afterAll(async () => {
    await gw?.stop();
    await smtp?.stop();
  });

  test("the Members page shows the link instead of mailing one built on the host a request named", async () => {
    const c = await gw.customer(0);
    const owner = await join(gw, c.accountId, "owner", `owner-${c.accountId.toLowerCase()}@example.com`);
    const invited = `invited-${c.accountId.toLowerCase()}@example.com`;
    const { html } = await owner.w.page("/portal/members");
    // A client that sends no Origin header names its own Host.
    const res = await owner.w.post("/portal/members", { _csrf: csrfOf(html), email: invited, role: "member" }, { host: "attacker.example" });
    expect(res.status).toBe(303);
    const shown = /(http:\/\/[^"<\s]+\/portal\/invite\/[0-9A-Za-z]+)/.exec((await owner.w.page("/portal/members")).html)?.[1];
    expect(shown).toBeDefined();
    await Bun.sleep(300);
    expect(smtp.mails.filter((m) => m.to.includes(invited))).toEqual([]);
    expect(startupWarnings(gw.runtime.deps.config).join("\n")).toContain("smtp_host is set without public_url");
  });
});
