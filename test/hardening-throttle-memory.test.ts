/**
 * The sign-in throttles keep little and let nobody out early: an email longer than any address is
 * refused before it is counted (so a key is never long), keys whose failures have all left the
 * window are dropped, and when the map is full a paused key is never the one dropped.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { LoginThrottle } from "../src/identity/sessions";
import { startGateway, TestClock, type Gateway } from "./support/gateway";
import { csrfOf, WebClient } from "./support/web-client";

setDefaultTimeout(300_000);

const seen = new Set<LoginThrottle>();
const originalFail = LoginThrottle.prototype.fail;
let gw: Gateway;
let clock: TestClock;
beforeAll(async () => {
  // Remembers the throttle instances the gateway counts failures on.
  LoginThrottle.prototype.fail = function (this: LoginThrottle, key: string) {
    seen.add(this);
    return originalFail.call(this, key);
  };
  clock = new TestClock();
  gw = await startGateway({ clock, config: { trusted_proxy_header: "x-real-ip" } });
});
afterAll(async () => {
  LoginThrottle.prototype.fail = originalFail;
  await gw?.stop();
});

const keysOf = (t: LoginThrottle) => [...(t as unknown as { failures: Map<string, number[]> }).failures.keys()];
const allKeys = () => [...seen].flatMap(keysOf);

describe("portal sign-in throttle memory", () => {
  test("an email longer than 254 characters gets the usual answer and is never a throttle key", async () => {
    const w = new WebClient(gw.url);
    const csrf = csrfOf(await (await w.get("/portal/login")).text());
    const headers = { "x-real-ip": "203.0.113.10" };
    for (let i = 0; i < 25; i++) {
      const res = await w.post("/portal/login", { _csrf: csrf, email: `${i}-${"a".repeat(60_000)}@example.com`, password: "wrong password!" }, headers);
      expect(res.status).toBe(401);
      const html = await res.text();
      expect(html).toContain("The email or password is incorrect.");
      // The form shows at most an address's length of what was typed.
      expect(html.length).toBeLessThan(20_000);
    }
    expect(allKeys().filter((k) => k.length > 400)).toEqual([]);
    // Not counted either: the address may still try a real one.
    expect((await w.post("/portal/login", { _csrf: csrf, email: "someone@example.com", password: "wrong password!" }, headers)).status).toBe(401);
    // 254 characters is still an address: counted and answered as usual.
    const longest = `${"b".repeat(254 - "@example.com".length)}@example.com`;
    expect((await w.post("/portal/login", { _csrf: csrf, email: longest, password: "wrong password!" }, headers)).status).toBe(401);
    expect(allKeys().some((k) => k.endsWith(`:${longest}`))).toBe(true);
  });

  test("keys whose failures left the window are dropped, not kept until 10,000 pile up", async () => {
    const w = new WebClient(gw.url);
    const csrf = csrfOf(await (await w.get("/portal/login")).text());
    const headers = { "x-real-ip": "203.0.113.20" };
    for (let win = 0; win < 3; win++) {
      for (let i = 0; i < 20; i++) {
        expect((await w.post("/portal/login", { _csrf: csrf, email: `w${win}-${i}@example.com`, password: "wrong password!" }, headers)).status).toBe(401);
      }
      // The address is paused (20 over any emails) until the window has passed.
      expect((await w.post("/portal/login", { _csrf: csrf, email: "x@example.com", password: "wrong password!" }, headers)).status).toBe(429);
      clock.add(16 * 60_000);
    }
    // One more failure after the last window: only it (and its address's count) is worth keeping.
    expect((await w.post("/portal/login", { _csrf: csrf, email: "last@example.com", password: "wrong password!" }, headers)).status).toBe(401);
    const perEmail = allKeys().filter((k) => /^portal:.*:w\d-\d+@example\.com$/.test(k));
    expect(perEmail).toEqual([]);
  });
});

describe("LoginThrottle when full", () => {
  test("a paused key is not unpaused by 10,000 other keys' failures", () => {
    let now = 1_000_000;
    const t = new LoginThrottle(5, 15 * 60_000, () => now);
    const victim = "portal:203.0.113.7:owner@example.com";
    for (let i = 0; i < 5; i++) t.fail(victim);
    expect(t.retryAfterMs(victim)).toBeGreaterThan(0);
    for (let i = 0; i < 10_000; i++) t.fail(`portal:2001:db8:${i.toString(16)}::/64:x${i}@example.com`);
    now += 60_000;
    expect(t.retryAfterMs(victim)).toBeGreaterThan(0);
  });

  test("expired keys go first, then the least recently failed; paused keys stay", () => {
    let now = 0;
    const t = new LoginThrottle(2, 1_000, () => now, 10);
    t.fail("paused");
    t.fail("paused");
    for (let i = 0; i < 9; i++) {
      now += 1;
      t.fail(`k${i}`);
    }
    // k0 fails again: the least recently failed is now k1.
    now += 1;
    t.fail("k0");
    t.fail("new");
    // k1 was dropped (its next failure is its first again), k0 kept (its next one pauses it).
    t.fail("k1");
    expect(t.retryAfterMs("k1")).toBe(0);
    expect(t.retryAfterMs("k0")).toBeGreaterThan(0);
    expect(t.retryAfterMs("paused")).toBeGreaterThan(0);
    // Once the window has passed, every key is expired: all make room before anything else.
    now += 1_500;
    for (let i = 0; i < 10; i++) t.fail(`later${i}`);
    expect(keysOf(t).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `later${i}`).sort());
  });

  test("full of paused keys: a newcomer is never turned away; the pause that ends first goes", () => {
    let now = 0;
    const t = new LoginThrottle(2, 1_000, () => now, 10);
    for (let i = 0; i < 10; i++) {
      t.fail(`p${i}`);
      t.fail(`p${i}`);
      now += 10;
    }
    // Whoever filled the map with paused keys cannot lock out a customer who never failed.
    expect(t.retryAfterMs("newcomer")).toBe(0);
    t.fail("newcomer");
    expect(keysOf(t)).toContain("newcomer");
    expect(keysOf(t)).toHaveLength(10);
    // p0's pause would have ended first: it is the one dropped; the others stay paused.
    expect(keysOf(t)).not.toContain("p0");
    for (let i = 1; i < 10; i++) expect(t.retryAfterMs(`p${i}`)).toBeGreaterThan(0);
  });
});
