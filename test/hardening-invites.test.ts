import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sha256Hex } from "../src/lib/crypto";
import { startGateway, type Gateway } from "./support/gateway";
import { WebClient } from "./support/web-client";

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
