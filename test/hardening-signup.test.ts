import { describe, expect, test } from "bun:test";
import { loadConfig } from "../src/config/load";
import { until } from "./support/chat";
import { signupGateway, SIGNUP_PUBLIC, type Mail } from "./support/smtp";
import { csrfOf, WebClient } from "./support/web-client";
import { join } from "./support/teams";
import { redacted } from "../src/lib/log";

/**
 * Open sign-up must not tell anyone which emails have an account: the form answers the same for
 * a new and a registered email ("check your email"), in about the same time, and the account is
 * only created from the link mailed to the address, by whoever knows the password chosen.
 */


const PASSWORD = "correct horse battery";
const g = signupGateway({ signup_credits_usd: "1.5" });

const mailsTo = (email: string) => g.smtp.mails.filter((m) => m.to.includes(email));
const linkIn = (mail: Mail) => /https:\/\/gw\.example\.com(\/portal\/signup\/confirm\/[0-9A-Za-z]+)/.exec(mail.data)?.[1];

async function registered(email: string) {
  const c = await g.srv.customer(0);
  const inv = (await (await g.srv.admin(`/admin/accounts/${c.accountId}/invite`, { body: { email } })).json()) as { url: string };
  const path = new URL(inv.url).pathname;
  expect((await new WebClient(g.srv.url).submit(path, path, { email, password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
}

async function signUp(w: WebClient, email: string, from = "198.51.100.1") {
  const t0 = performance.now();
  const res = await w.submit("/portal/signup", "/portal/signup", { name: "Someone", email, password: PASSWORD, confirm: PASSWORD }, { "x-forwarded-for": from });
  const text = await res.text();
  return { status: res.status, location: res.headers.get("location"), cookies: res.headers.getSetCookie(), text, ms: performance.now() - t0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe("open sign-up does not reveal registered emails", () => {
  test("a registered and a new email get the same answer, in about the same time", async () => {
    await registered("known@example.com");
    const w = new WebClient(g.srv.url);
    const known = await signUp(w, "known@example.com");
    const fresh = await signUp(w, "fresh@example.com");
    expect(fresh.status).toBe(200);
    expect(known).toEqual({ ...fresh, ms: known.ms });
    expect(fresh.text).toContain("Check your email");

    const times = { known: [known.ms], fresh: [fresh.ms] };
    for (let i = 0; i < 4; i++) {
      times.known.push((await signUp(w, "known@example.com")).ms);
      times.fresh.push((await signUp(w, `fresh${i}@example.com`)).ms);
    }
    const ratio = median(times.known) / median(times.fresh);
    expect(ratio).toBeGreaterThan(0.33);
    expect(ratio).toBeLessThan(3);
  });

  test("the new address gets a link that creates the account with the chosen password; the registered one a notice", async () => {
    const w = new WebClient(g.srv.url);
    expect((await signUp(w, "newcomer@example.com", "198.51.100.2")).status).toBe(200);
    expect(await until(() => mailsTo("newcomer@example.com").length === 1 && mailsTo("known@example.com").length >= 1, 5_000)).toBe(true);
    const notice = mailsTo("known@example.com")[0]!;
    expect(linkIn(notice)).toBeUndefined();
    expect(notice.data).toContain("already has an account");
    const link = linkIn(mailsTo("newcomer@example.com")[0]!)!;
    expect(link).toBeDefined();

    // Nothing exists until the link is used: signing in fails like for any unknown email.
    expect((await new WebClient(g.srv.url).submit("/portal/login", "/portal/login", { email: "newcomer@example.com", password: PASSWORD })).status).toBe(401);

    // Whoever opens the link must know the password chosen at sign-up.
    const other = new WebClient(g.srv.url);
    expect((await other.get(link)).status).toBe(200);
    expect((await other.submit(link, link, { password: "not the password" })).status).toBe(401);

    const owner = new WebClient(g.srv.url);
    const done = await owner.submit(link, link, { password: PASSWORD });
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe("/portal");
    expect((await owner.page("/portal")).html).toContain("$1.50");
    expect((await new WebClient(g.srv.url).get(link)).status).toBe(404);
    // And now the account signs in normally.
    expect((await new WebClient(g.srv.url).submit("/portal/login", "/portal/login", { email: "newcomer@example.com", password: PASSWORD })).status).toBe(303);
  });

  test("finishing sign-up signs the owner in: a sign-in time, and changes audited as that member", async () => {
    const email = "first-session@example.com";
    expect((await signUp(new WebClient(g.srv.url), email, "198.51.100.5")).status).toBe(200);
    expect(await until(() => mailsTo(email).length === 1, 5_000)).toBe(true);
    const link = linkIn(mailsTo(email)[0]!)!;
    const owner = new WebClient(g.srv.url);
    expect((await owner.submit(link, link, { password: PASSWORD })).status).toBe(303);
    const members = await owner.page("/portal/members");
    expect(members.html).not.toContain("Never signed in");
    expect((await owner.submit("/portal/keys", "/portal/keys", { name: "first key" })).status).toBe(303);
    const audit = (await (await g.srv.admin("/admin/audit?limit=50")).json()) as { data: { actor: string; action: string; target_id: string }[] };
    const created = audit.data.find((e) => e.action === "key.create");
    expect(created?.actor).toMatch(/^portal:acc_[0-9A-Za-z]+:mem_[0-9A-Za-z]+$/);
  });

  test("an address that keeps signing up is paused (each sign-up sends an email)", async () => {
    const w = new WebClient(g.srv.url);
    for (let i = 0; i < 10; i++) expect((await signUp(w, `burst${i}@example.com`, "198.51.100.3")).status).toBe(200);
    expect((await signUp(w, "burst@example.com", "198.51.100.3")).status).toBe(429);
    expect((await signUp(w, "elsewhere@example.com", "198.51.100.4")).status).toBe(200);
  });

  test("the link's password takes five guesses from an address, however many arrive at once", async () => {
    expect((await signUp(new WebClient(g.srv.url), "guessed@example.com", "198.51.100.5")).status).toBe(200);
    expect(await until(() => mailsTo("guessed@example.com").length === 1, 5_000)).toBe(true);
    const link = linkIn(mailsTo("guessed@example.com")[0]!)!;
    const w = new WebClient(g.srv.url);
    const _csrf = csrfOf((await w.page(link)).html);
    // All in flight at once, each awaiting its password hash: every one must count as it starts.
    const statuses = (await Promise.all(Array.from({ length: 30 }, (_, i) =>
      w.post(link, { _csrf, password: `guess number ${i}` }, { "x-forwarded-for": "198.51.100.6" })))).map((r) => r.status);
    const wrong = statuses.filter((s) => s === 401).length;
    expect(wrong).toBeGreaterThan(0);
    expect(wrong).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - wrong);
    expect((await new WebClient(g.srv.url).submit(link, link, { password: PASSWORD }, { "x-forwarded-for": "198.51.100.7" })).status).toBe(303);
  });

  test("a stranger who submits the same email cannot void the owner's link; the first link used voids the rest", async () => {
    const email = "pending-victim@example.com";
    const submit = (password: string, from: string) =>
      new WebClient(g.srv.url).submit("/portal/signup", "/portal/signup", { name: "Someone", email, password, confirm: password }, { "x-forwarded-for": from });
    expect((await submit(PASSWORD, "198.51.100.20")).status).toBe(200);
    expect(await until(() => mailsTo(email).length === 1, 5_000)).toBe(true);
    const mine = linkIn(mailsTo(email)[0]!)!;
    expect((await submit("a stranger's password", "203.0.113.20")).status).toBe(200);
    expect(await until(() => mailsTo(email).length === 2, 5_000)).toBe(true);
    const theirs = linkIn(mailsTo(email)[1]!)!;
    // Both links open; the owner's still finishes the sign-up with the owner's password.
    expect((await new WebClient(g.srv.url).get(theirs)).status).toBe(200);
    expect((await new WebClient(g.srv.url).get(mine)).status).toBe(200);
    expect((await new WebClient(g.srv.url).submit(mine, mine, { password: PASSWORD })).status).toBe(303);
    expect((await new WebClient(g.srv.url).get(theirs)).status).toBe(404);
  });

  test("an email keeps its first five pending sign-ups: later ones are dropped, answered alike; expired ones go", async () => {
    const email = "many-pending@example.com";
    for (let i = 0; i < 7; i++) {
      const res = await new WebClient(g.srv.url).submit("/portal/signup", "/portal/signup", { name: "Someone", email, password: PASSWORD, confirm: PASSWORD }, { "x-forwarded-for": `198.51.100.${30 + i}` });
      expect(res.status).toBe(200);
      if (i < 5) expect(await until(() => mailsTo(email).length === i + 1, 5_000)).toBe(true);
    }
    await Bun.sleep(200);
    expect(mailsTo(email)).toHaveLength(5);
    const pending = () => g.srv.runtime.deps.store.sqlite.query<{ n: number }, [string]>("SELECT count(*) AS n FROM signup_requests WHERE email = ?").get(email)!.n;
    expect(pending()).toBe(5);
    // The first link, the owner's own, still works however often the address was submitted since.
    const links = mailsTo(email).map((m) => linkIn(m)!);
    expect((await new WebClient(g.srv.url).get(links[0]!)).status).toBe(200);
    // Expired requests go with the next sign-up of any address.
    g.srv.runtime.deps.store.sqlite.query("UPDATE signup_requests SET expires_at = ? WHERE email = ?").run(Date.now() - 1, email);
    expect((await new WebClient(g.srv.url).submit("/portal/signup", "/portal/signup", { name: "Someone", email: "another-pending@example.com", password: PASSWORD, confirm: PASSWORD }, { "x-forwarded-for": "198.51.100.40" })).status).toBe(200);
    expect(pending()).toBe(0);
  });

  test("the account's name is held to the API's rules: no control characters, something visible", async () => {
    const w = new WebClient(g.srv.url);
    for (const [name, why] of [["Evil\r\nBcc: victim@example.org", "control characters"], ["\u200b\u200b", "visible characters"]] as const) {
      const res = await w.submit("/portal/signup", "/portal/signup", { name, email: `named-${crypto.randomUUID().slice(0, 6)}@example.com`, password: PASSWORD, confirm: PASSWORD }, { "x-forwarded-for": "198.51.100.9" });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain(why);
    }
  });

  test("open sign-up needs email and a public URL for its links", () => {
    expect(() => loadConfig({ overrides: { signup_enabled: true, public_url: SIGNUP_PUBLIC } })).toThrow("smtp_host");
    expect(() => loadConfig({ overrides: { signup_enabled: true, smtp_host: "127.0.0.1" } })).toThrow("public_url");
  });
});

describe("mail sent on a customer's behalf", () => {
  test("an account mails at most 30 invitations an hour; another account is not held back", async () => {
    const c = await g.srv.customer(0);
    const owner = await join(g.srv, c.accountId, "owner", `owner-${c.accountId}@example.com`);
    const invite = (w: WebClient, email: string) => w.submit("/portal/members", "/portal/members", { email, role: "member" });
    for (let i = 0; i < 30; i++) expect((await invite(owner.w, `spray${i}-${c.accountId}@example.com`)).status).toBe(303);
    expect(await until(() => g.smtp.mails.filter((m) => m.to[0]!.startsWith("spray") && m.to[0]!.includes(c.accountId.toLowerCase())).length === 30, 10_000)).toBe(true);
    // The 31st, and a re-send of an earlier one: refused with a message, no member made, nothing mailed.
    expect((await invite(owner.w, `spray-more-${c.accountId}@example.com`)).status).toBe(303);
    expect((await owner.w.page("/portal/members")).html).toContain("too many invitations in the last hour");
    const memberId = g.srv.runtime.deps.store.sqlite.query<{ id: string }, [string]>("SELECT id FROM account_members WHERE account_id = ? AND role = 'member' LIMIT 1").get(c.accountId)!.id;
    expect((await owner.w.submit("/portal/members", `/portal/members/${memberId}/invite`, {})).status).toBe(303);
    expect((await owner.w.page("/portal/members")).html).toContain("too many invitations in the last hour");
    const rows = g.srv.runtime.deps.store.sqlite.query<{ n: number }, [string]>("SELECT count(*) AS n FROM account_members WHERE account_id = ? AND role = 'member'").get(c.accountId)!.n;
    expect(rows).toBe(30);
    await Bun.sleep(200);
    expect(g.smtp.mails.filter((m) => m.to[0]!.includes(c.accountId.toLowerCase()) && !m.to[0]!.startsWith("owner")).length).toBe(30);
    const other = await g.srv.customer(0);
    const otherOwner = await join(g.srv, other.accountId, "owner", `owner-${other.accountId}@example.com`);
    expect((await invite(otherOwner.w, `welcome-${other.accountId}@example.com`)).status).toBe(303);
    expect((await otherOwner.w.page("/portal/members")).html).not.toContain("too many invitations");
  });

  test("with SMTP the Members page mails the invite link and never shows it: accepting it proves the address", async () => {
    const c = await g.srv.customer(0);
    const owner = await join(g.srv, c.accountId, "owner", `owner-${c.accountId}@example.com`);
    const email = `mailed-member-${c.accountId.toLowerCase()}@example.com`;
    expect((await owner.w.submit("/portal/members", "/portal/members", { email, role: "member" })).status).toBe(303);
    const page = (await owner.w.page("/portal/members")).html;
    expect(page).toContain(`We emailed ${email} a one-time link`);
    expect(page).not.toContain("/portal/invite/");
    expect(await until(() => mailsTo(email).length === 1, 5_000)).toBe(true);
    const link = /https:\/\/gw\.example\.com(\/portal\/invite\/[0-9A-Za-z]+)/.exec(mailsTo(email)[0]!.data)![1]!;
    // A new link is mailed too, and ends the first.
    const memberId = g.srv.runtime.deps.store.sqlite.query<{ id: string }, [string, string]>("SELECT id FROM account_members WHERE account_id = ? AND email = ?").get(c.accountId, email)!.id;
    expect((await owner.w.submit("/portal/members", `/portal/members/${memberId}/invite`, {})).status).toBe(303);
    expect((await owner.w.page("/portal/members")).html).not.toContain("/portal/invite/");
    expect(await until(() => mailsTo(email).length === 2, 5_000)).toBe(true);
    expect((await new WebClient(g.srv.url).get(link)).status).toBe(410);
    const fresh = /https:\/\/gw\.example\.com(\/portal\/invite\/[0-9A-Za-z]+)/.exec(mailsTo(email)[1]!.data)![1]!;
    expect((await new WebClient(g.srv.url).submit(fresh, fresh, { email, password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
    // Proven by the mailbox: the address stays this member's.
    const other = await g.srv.customer(0);
    expect((await g.srv.admin(`/admin/accounts/${other.accountId}/invite`, { body: { email } })).status).toBe(409);
    expect((await signUp(new WebClient(g.srv.url), email, "198.51.100.50")).status).toBe(200);
    expect(await until(() => mailsTo(email).length === 3, 5_000)).toBe(true);
    expect(mailsTo(email)[2]!.data).toContain("already has an account");
  });

  test("what goes to the log of a failed mail names no address and no link", () => {
    const smtpRefusal = new Error("Can't send mail - all recipients were rejected: 550 5.1.1 <jane.doe+x@example.com>: unknown user; see https://gw.example.com/portal/invite/secret123");
    const text = redacted(smtpRefusal);
    expect(text).not.toContain("jane.doe");
    expect(text).not.toContain("secret123");
    expect(text).toContain("550 5.1.1 <<address>>");
    expect(text).toContain("https://gw.example.com/…");
  });
});
