import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadConfig } from "../src/config/load";
import { until } from "./support/chat";
import { startSmtp, type Mail } from "./support/smtp";
import { startGateway, type Gateway } from "./support/gateway";
import { csrfOf, WebClient } from "./support/web-client";

/**
 * Open sign-up must not tell anyone which emails have an account: the form answers the same for
 * a new and a registered email ("check your email"), in about the same time, and the account is
 * only created from the link mailed to the address, by whoever knows the password chosen.
 */


const PASSWORD = "correct horse battery";
const PUBLIC = "https://gw.example.com";
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let srv: Gateway;
beforeAll(async () => {
  smtp = await startSmtp();
  srv = await startGateway({ config: {
    signup_enabled: true,
    signup_credits_usd: "1.5",
    // Sign-ups are throttled per client address (10 an hour): each test gets its own.
    trusted_proxy_header: "x-forwarded-for",
    smtp_host: "127.0.0.1",
    smtp_port: smtp.port,
    smtp_from: "portal@gw.example.com",
    public_url: PUBLIC,
  } });
});
afterAll(async () => {
  await srv?.stop();
  await smtp?.stop();
});

const mailsTo = (email: string) => smtp.mails.filter((m) => m.to.includes(email));
const linkIn = (mail: Mail) => /https:\/\/gw\.example\.com(\/portal\/signup\/confirm\/[0-9A-Za-z]+)/.exec(mail.data)?.[1];

async function registered(email: string) {
  const c = await srv.customer(0);
  const inv = (await (await srv.admin(`/admin/accounts/${c.accountId}/invite`, { body: { email } })).json()) as { url: string };
  const path = new URL(inv.url).pathname;
  expect((await new WebClient(srv.url).submit(path, path, { email, password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
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
    const w = new WebClient(srv.url);
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
    const w = new WebClient(srv.url);
    expect((await signUp(w, "newcomer@example.com", "198.51.100.2")).status).toBe(200);
    expect(await until(() => mailsTo("newcomer@example.com").length === 1 && mailsTo("known@example.com").length >= 1, 5_000)).toBe(true);
    const notice = mailsTo("known@example.com")[0]!;
    expect(linkIn(notice)).toBeUndefined();
    expect(notice.data).toContain("already has an account");
    const link = linkIn(mailsTo("newcomer@example.com")[0]!)!;
    expect(link).toBeDefined();

    // Nothing exists until the link is used: signing in fails like for any unknown email.
    expect((await new WebClient(srv.url).submit("/portal/login", "/portal/login", { email: "newcomer@example.com", password: PASSWORD })).status).toBe(401);

    // Whoever opens the link must know the password chosen at sign-up.
    const other = new WebClient(srv.url);
    expect((await other.get(link)).status).toBe(200);
    expect((await other.submit(link, link, { password: "not the password" })).status).toBe(401);

    const owner = new WebClient(srv.url);
    const done = await owner.submit(link, link, { password: PASSWORD });
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe("/portal");
    expect((await owner.page("/portal")).html).toContain("$1.50");
    expect((await new WebClient(srv.url).get(link)).status).toBe(404);
    // And now the account signs in normally.
    expect((await new WebClient(srv.url).submit("/portal/login", "/portal/login", { email: "newcomer@example.com", password: PASSWORD })).status).toBe(303);
  });

  test("an address that keeps signing up is paused (each sign-up sends an email)", async () => {
    const w = new WebClient(srv.url);
    for (let i = 0; i < 10; i++) expect((await signUp(w, `burst${i}@example.com`, "198.51.100.3")).status).toBe(200);
    expect((await signUp(w, "burst@example.com", "198.51.100.3")).status).toBe(429);
    expect((await signUp(w, "elsewhere@example.com", "198.51.100.4")).status).toBe(200);
  });

  test("the link's password takes five guesses from an address, however many arrive at once", async () => {
    expect((await signUp(new WebClient(srv.url), "guessed@example.com", "198.51.100.5")).status).toBe(200);
    expect(await until(() => mailsTo("guessed@example.com").length === 1, 5_000)).toBe(true);
    const link = linkIn(mailsTo("guessed@example.com")[0]!)!;
    const w = new WebClient(srv.url);
    const _csrf = csrfOf((await w.page(link)).html);
    // All in flight at once, each awaiting its password hash: every one must count as it starts.
    const statuses = (await Promise.all(Array.from({ length: 30 }, (_, i) =>
      w.post(link, { _csrf, password: `guess number ${i}` }, { "x-forwarded-for": "198.51.100.6" })))).map((r) => r.status);
    const wrong = statuses.filter((s) => s === 401).length;
    expect(wrong).toBeGreaterThan(0);
    expect(wrong).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - wrong);
    expect((await new WebClient(srv.url).submit(link, link, { password: PASSWORD }, { "x-forwarded-for": "198.51.100.7" })).status).toBe(303);
  });

  test("open sign-up needs email and a public URL for its links", () => {
    expect(() => loadConfig({ overrides: { signup_enabled: true, public_url: PUBLIC } })).toThrow("smtp_host");
    expect(() => loadConfig({ overrides: { signup_enabled: true, smtp_host: "127.0.0.1" } })).toThrow("public_url");
  });
});
