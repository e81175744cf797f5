import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { signupGateway } from "./support/smtp";
import { until } from "./support/chat";
import { csrfOf, WebClient } from "./support/web-client";
import { AttemptGate, enterAll, leaveAll, type GateSlot } from "../src/identity/attempt-gate";
import { LoginThrottle } from "../src/identity/sessions";

/**
 * The sign-in throttles (5 failures in 15 minutes per address and email, 20 per address, 5 per
 * address for a sign-up's confirmation) count only wrong passwords, also while passwords are being
 * checked: right ones sent at once, more than the limit, all sign in and leave no failure behind.
 * Wrong ones sent at once are still cut at the limit: never more tried than may fail, the rest
 * hear the pause (429 with retry-after).
 */
setDefaultTimeout(60_000);

const PASSWORD = "correct horse battery";
const g = signupGateway();

const from = (ip: string) => ({ "x-forwarded-for": `10.9.8.7, ${ip}` });

async function withLogin(email: string): Promise<void> {
  const c = await g.srv.customer(0);
  const inv = (await (await g.srv.admin(`/admin/accounts/${c.accountId}/invite`, { body: { email } })).json()) as { url: string };
  const path = new URL(inv.url).pathname;
  expect((await new WebClient(g.srv.url).submit(path, path, { email, password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
}

/** A sign-in form poster for one address; each post carries the page's CSRF token. */
async function signInFrom(ip: string) {
  const w = new WebClient(g.srv.url);
  const _csrf = csrfOf((await w.page("/portal/login")).html);
  return (email: string, password: string) => w.post("/portal/login", { _csrf, email, password }, from(ip));
}

const count = (statuses: number[], s: number) => statuses.filter((x) => x === s).length;

describe("portal sign-in with passwords in flight", () => {
  test("25 right passwords at once for one email and address all sign in; a wrong one after is the first failure", async () => {
    const email = "many-tabs@example.com";
    await withLogin(email);
    const post = await signInFrom("203.0.113.21");
    // More than either limit (5 per email, 20 per address), all awaiting their password hash at once.
    const statuses = (await Promise.all(Array.from({ length: 25 }, () => post(email, PASSWORD)))).map((r) => r.status);
    expect(statuses).toEqual(Array(25).fill(303));
    // Nothing was counted: five wrong passwords are answered, the sixth attempt hears the pause.
    for (let i = 0; i < 5; i++) expect((await post(email, `wrong ${i}`)).status).toBe(401);
    const paused = await post(email, PASSWORD);
    expect(paused.status).toBe(429);
    expect(Number(paused.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("right and wrong passwords at once: only the wrong ones count", async () => {
    const email = "mixed@example.com";
    await withLogin(email);
    const post = await signInFrom("203.0.113.22");
    const passwords = [...Array(8).fill(PASSWORD), "wrong a", "wrong b"];
    const statuses = (await Promise.all(passwords.map((p) => post(email, p)))).map((r) => r.status);
    expect(statuses).toEqual([...Array(8).fill(303), 401, 401]);
    // A right password clears the email's failures; whatever the order, at most the two remain.
    for (let i = 0; i < 3; i++) expect((await post(email, `again ${i}`)).status).toBe(401);
  });

  test("30 wrong passwords at once for one email: five are tried, the rest are 429 with retry-after", async () => {
    const email = "guessed@example.com";
    await withLogin(email);
    const post = await signInFrom("203.0.113.23");
    const res = await Promise.all(Array.from({ length: 30 }, (_, i) => post(email, `guess ${i}`)));
    const statuses = res.map((r) => r.status);
    expect(count(statuses, 401)).toBe(5);
    expect(count(statuses, 429)).toBe(25);
    expect(res.filter((r) => r.status === 429).every((r) => Number(r.headers.get("retry-after")) > 800)).toBe(true);
    expect((await post(email, PASSWORD)).status).toBe(429);
  });

  test("30 wrong passwords at once over 30 emails from one address: twenty are tried", async () => {
    const post = await signInFrom("203.0.113.24");
    const statuses = (await Promise.all(Array.from({ length: 30 }, (_, i) => post(`spray${i}@example.com`, "x".repeat(12))))).map((r) => r.status);
    expect(count(statuses, 401)).toBe(20);
    expect(count(statuses, 429)).toBe(10);
    expect((await post("spray-next@example.com", "x".repeat(12))).status).toBe(429);
  });
});

describe("sign-up confirmation with passwords in flight", () => {
  test("the right password sent 8 times at once is never refused as too many failures", async () => {
    const email = "double-click@example.com";
    const ip = "198.51.100.61";
    const res = await new WebClient(g.srv.url).submit("/portal/signup", "/portal/signup", { name: "Someone", email, password: PASSWORD, confirm: PASSWORD }, from(ip));
    expect(res.status).toBe(200);
    await until(() => g.smtp.mails.some((m) => m.to.includes(email)));
    const mail = g.smtp.mails.find((m) => m.to.includes(email))!;
    const path = /https:\/\/gw\.example\.com(\/portal\/signup\/confirm\/[0-9A-Za-z]+)/.exec(mail.data)![1]!;
    const w = new WebClient(g.srv.url);
    const _csrf = csrfOf((await w.page(path)).html);
    const statuses = (await Promise.all(Array.from({ length: 8 }, () => w.post(path, { _csrf, password: PASSWORD }, from(ip))))).map((r) => r.status);
    // One creates the account; the others find the link used. None counted as a wrong password.
    expect(count(statuses, 303)).toBe(1);
    expect(count(statuses, 429)).toBe(0);
  });

  test("wrong passwords past the limit: the pause is a 429 that says when to come back (retry-after)", async () => {
    const email = "forgot-it@example.com";
    const ip = "198.51.100.62";
    expect((await new WebClient(g.srv.url).submit("/portal/signup", "/portal/signup", { name: "Someone", email, password: PASSWORD, confirm: PASSWORD }, from(ip))).status).toBe(200);
    await until(() => g.smtp.mails.some((m) => m.to.includes(email)));
    const mail = g.smtp.mails.find((m) => m.to.includes(email))!;
    const path = /https:\/\/gw\.example\.com(\/portal\/signup\/confirm\/[0-9A-Za-z]+)/.exec(mail.data)![1]!;
    const w = new WebClient(g.srv.url);
    const _csrf = csrfOf((await w.page(path)).html);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await w.post(path, { _csrf, password: "not the one chosen" }, from(ip))).status);
    const paused = await w.post(path, { _csrf, password: PASSWORD }, from(ip));
    expect({ statuses, paused: paused.status, retryAfterSeconds: Number(paused.headers.get("retry-after")) > 60 }).toEqual({ statuses: [401, 401, 401, 401, 401], paused: 429, retryAfterSeconds: true });
  });
});

describe("two gates entered in one order (an email's, then its address's)", () => {
  test("40 attempts over four emails from one address all end, none waits forever, nothing is left behind", async () => {
    const email = new AttemptGate(new LoginThrottle(2, 60_000));
    const address = new AttemptGate(new LoginThrottle(3, 60_000));
    const outcomes = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
      const slots: GateSlot[] = [[email, `e${i % 4}`], [address, "a"]];
      if ((await enterAll(slots)) > 0) return "paused";
      await Bun.sleep(1 + (i % 3));
      leaveAll(slots, i % 7 === 0);
      return "tried";
    }));
    expect(outcomes).toHaveLength(40);
    expect(outcomes).toContain("paused");
    // Never more wrong ones tried than the address may fail.
    expect(address.throttle.failureCount("a")).toBe(3);
    for (const key of ["e0", "e1", "e2", "e3"]) expect(email.pending(key)).toBe(0);
    expect(address.pending("a")).toBe(0);
  });
});
