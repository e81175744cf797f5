/**
 * A sign-in throttle full of paused keys (an attacker with many addresses: IPv6 /64s are cheap,
 * console sign-in failures cost the server no password hash) must not lock out every customer and
 * the operator: someone who never failed still signs in with the right password or token.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { LoginThrottle } from "../src/identity/sessions";
import { ADMIN_TOKEN, startGateway, TestClock, type Gateway } from "./support/gateway";
import { join, signIn } from "./support/teams";
import { WebClient } from "./support/web-client";

setDefaultTimeout(300_000);
const seen = new Set<LoginThrottle>();
const originalFail = LoginThrottle.prototype.fail;
let gw: Gateway;
beforeAll(async () => {
  LoginThrottle.prototype.fail = function (this: LoginThrottle, key: string) {
    seen.add(this);
    return originalFail.call(this, key);
  };
  gw = await startGateway({ clock: new TestClock(), config: { trusted_proxy_header: "x-real-ip" } });
});
afterAll(async () => {
  LoginThrottle.prototype.fail = originalFail;
  await gw?.stop();
});
const keysOf = (t: LoginThrottle) => [...(t as unknown as { failures: Map<string, number[]> }).failures.keys()];

test("10,000 paused console addresses lock a customer with the right password, and the operator, out", async () => {
  const c = await gw.customer();
  await join(gw, c.accountId, "owner", "owner@example.com");
  // One wrong console token: finds the signIn throttle (console:<address>).
  const w = new WebClient(gw.url);
  expect((await w.submit("/console/login", "/console/login", { token: "wrong" }, { "x-real-ip": "2001:db8:ffff:1::1" })).status).toBe(401);
  const signInThrottle = [...seen].find((t) => keysOf(t).some((k) => k.startsWith("console:")))!;
  expect(signInThrottle).toBeDefined();
  // What 10,000 /64s each sending 5 wrong console tokens (50,000 cheap requests in 15 min) leave behind.
  for (let i = 0; i < 10_000; i++) for (let j = 0; j < 5; j++) signInThrottle.fail(`console:2001:db8:${i.toString(16)}:0::/64`);

  // A customer who never failed, with the right password, from an address that never failed:
  const { status } = await signIn(gw.url, "owner@example.com");
  expect(status).toBe(303);
});

test("the operator with the right admin token on the console", async () => {
  const w = new WebClient(gw.url);
  const res = await w.submit("/console/login", "/console/login", { token: ADMIN_TOKEN }, { "x-real-ip": "198.51.100.77" });
  expect(res.status).toBe(303);
});

test("admin API: the right token from an address that never failed, once the admin throttle is full of paused addresses", async () => {
  expect((await fetch(`${gw.url}/admin/accounts`, { headers: { authorization: "Bearer wrong", "x-real-ip": "2001:db8:eeee:1::1" } })).status).toBe(401);
  const admin = [...seen].find((t) => (t as unknown as { max: number }).max === 30)!;
  expect(admin).toBeDefined();
  // What 10,000 /64s each sending 30 wrong tokens within a minute leave behind (docs/api.md: "other addresses are served as usual").
  for (let i = 0; i < 10_000; i++) for (let j = 0; j < 30; j++) admin.fail(`2001:db8:${i.toString(16)}:0::/64`);
  const res = await fetch(`${gw.url}/admin/accounts`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "x-real-ip": "198.51.100.78" } });
  expect(res.status).toBe(200);
});
