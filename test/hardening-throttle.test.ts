import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { clientAddress, takesAdminToken, throttleKey } from "../src/lib/client-address";
import { loadConfig } from "../src/config/load";
import { ADMIN_TOKEN, startGateway, TestClock, type Gateway } from "./support/gateway";
import { rawGet } from "./support/raw-http";
import { csrfOf, WebClient } from "./support/web-client";

/**
 * Failed credentials are throttled per client address, never per account or for the console as
 * a whole: five wrong tokens or passwords from an attacker must not lock the operator or the
 * customer out. Behind a proxy the address comes from `trusted_proxy_header`; without it, from the
 * connection, and a forged X-Forwarded-For changes nothing.
 */
const PASSWORD = "correct horse battery";
const ATTACKER = "203.0.113.9";
const OWNER = "198.51.100.7";

let proxied: Gateway;
let direct: Gateway;
const clock = new TestClock();
beforeAll(async () => {
  clock.run();
  proxied = await startGateway({ config: { trusted_proxy_header: "X-Forwarded-For" }, clock });
  direct = await startGateway();
});
afterAll(async () => {
  await proxied?.stop();
  await direct?.stop();
});

const from = (ip: string) => ({ "x-forwarded-for": `10.9.8.7, ${ip}` });

async function customerWithLogin(srv: Gateway, email: string) {
  const c = await srv.customer(0);
  const inv = (await (await srv.admin(`/admin/accounts/${c.accountId}/invite`, { body: { email } })).json()) as { url: string };
  const path = new URL(inv.url).pathname;
  expect((await new WebClient(srv.url).submit(path, path, { email, password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
  return c;
}

type Envelope = { error: { message: string; type: string; param: string | null; code: string | null } };

describe("sign-in throttles are per client address", () => {
  test("console: five wrong tokens pause only the address that sent them", async () => {
    const attacker = new WebClient(proxied.url);
    for (let i = 0; i < 5; i++) expect((await attacker.submit("/console/login", "/console/login", { token: `wrong-${i}` }, from(ATTACKER))).status).toBe(401);
    const blocked = await attacker.submit("/console/login", "/console/login", { token: ADMIN_TOKEN }, from(ATTACKER));
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    const operator = new WebClient(proxied.url);
    expect((await operator.submit("/console/login", "/console/login", { token: ADMIN_TOKEN }, from(OWNER))).status).toBe(303);
  });

  test("portal: five wrong passwords pause the attacker, not the account's owner", async () => {
    const email = "victim@example.com";
    await customerWithLogin(proxied, email);
    const attacker = new WebClient(proxied.url);
    for (let i = 0; i < 5; i++) expect((await attacker.submit("/portal/login", "/portal/login", { email, password: `guess ${i}` }, from(ATTACKER))).status).toBe(401);
    expect((await attacker.submit("/portal/login", "/portal/login", { email, password: PASSWORD }, from(ATTACKER))).status).toBe(429);
    const owner = new WebClient(proxied.url);
    const ok = await owner.submit("/portal/login", "/portal/login", { email, password: PASSWORD }, from(OWNER));
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/portal");
  });

  test("portal: an address spraying many emails is paused after 20 failures", async () => {
    const sprayer = new WebClient(proxied.url);
    const ip = "203.0.113.77";
    for (let i = 0; i < 20; i++) expect((await sprayer.submit("/portal/login", "/portal/login", { email: `n${i}@example.com`, password: "x".repeat(12) }, from(ip))).status).toBe(401);
    expect((await sprayer.submit("/portal/login", "/portal/login", { email: "other@example.com", password: "x".repeat(12) }, from(ip))).status).toBe(429);
  });

  test("portal: a burst of concurrent guesses gets five answers, not one each; successes are not counted", async () => {
    const email = "burst@example.com";
    await customerWithLogin(proxied, email);
    const ip = "203.0.113.60";
    const w = new WebClient(proxied.url);
    const _csrf = csrfOf((await w.page("/portal/login")).html);
    const post = (password: string) => w.post("/portal/login", { _csrf, email, password }, from(ip));
    // All sent at once: those awaiting their password hash are bounded with the failures, so five are tried.
    const statuses = (await Promise.all(Array.from({ length: 30 }, (_, i) => post(`guess ${i}`)))).map((r) => r.status);
    const wrong = statuses.filter((s) => s === 401).length;
    expect(wrong).toBe(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - wrong);
    expect((await post(PASSWORD)).status).toBe(429);
    clock.freeze();
    clock.add(15 * 60_000 + 1_000);
    clock.run();
    // After the window, more sign-ins than the address may fail (twenty) all succeed...
    for (let i = 0; i < 21; i++) expect((await post(PASSWORD)).status).toBe(303);
    // ...and left its count as it was: five wrong passwords, then the pause.
    for (let i = 0; i < 5; i++) expect((await post(`again ${i}`)).status).toBe(401);
    expect((await post(PASSWORD)).status).toBe(429);
  });

  test("without a trusted proxy header, a forged X-Forwarded-For does not reset the count", async () => {
    const attacker = new WebClient(direct.url);
    for (let i = 0; i < 5; i++) {
      expect((await attacker.submit("/console/login", "/console/login", { token: `wrong-${i}` }, { "x-forwarded-for": `192.0.2.${i}` })).status).toBe(401);
    }
    expect((await attacker.submit("/console/login", "/console/login", { token: "wrong" }, { "x-forwarded-for": "192.0.2.200" })).status).toBe(429);
  });
});

describe("the admin API", () => {
  const call = (srv: Gateway, token: string, headers: Record<string, string> = {}, body: unknown = { name: "x" }) =>
    fetch(`${srv.url}/admin/accounts`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  test("checks the token before the body: a bad body with a bad token is a 401", async () => {
    for (const body of [{ name: "" }, { nope: true }, "{not json"]) {
      const res = await call(proxied, "wrong-token", from("203.0.113.50"), body);
      expect(res.status).toBe(401);
      expect(((await res.json()) as Envelope).error.code).toBe("invalid_admin_token");
    }
    const bad = await call(proxied, ADMIN_TOKEN, from(OWNER), { name: "" });
    expect(bad.status).toBe(400);
  });

  test("wrong tokens from one address are answered 429 with retry-after after thirty; other addresses are unaffected", async () => {
    const ip = "203.0.113.51";
    for (let i = 0; i < 30; i++) expect((await call(proxied, `guess-${i}`, from(ip))).status).toBe(401);
    const throttled = await call(proxied, "guess-x", from(ip));
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(throttled.headers.get("x-request-id")).toMatch(/^req_/);
    const body = (await throttled.json()) as Envelope;
    expect(body.error).toMatchObject({ code: "too_many_failed_auth", param: null });
    expect(body.error.type).toBeString();
    // Even the right token waits out the pause from that address...
    expect((await call(proxied, ADMIN_TOKEN, from(ip))).status).toBe(429);
    // ...while the operator elsewhere is served.
    expect((await call(proxied, ADMIN_TOKEN, from(OWNER))).status).toBe(201);
    const list = await fetch(`${proxied.url}/admin/accounts`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...from(OWNER) } });
    expect(list.status).toBe(200);
  });

  test("/metrics, which takes the admin token too, counts towards the same pause", async () => {
    const ip = "203.0.113.52";
    const metrics = (token: string) => fetch(`${proxied.url}/metrics`, { headers: { authorization: `Bearer ${token}`, ...from(ip) } });
    for (let i = 0; i < 30; i++) expect((await metrics(`guess-${i}`)).status).toBe(401);
    expect((await metrics("guess-x")).status).toBe(429);
    expect((await call(proxied, ADMIN_TOKEN, from(ip))).status).toBe(429);
  });

  test("/metrics/ (the router serves it too) counts and pauses the same", async () => {
    const ip = "203.0.113.53";
    const metrics = (token: string) => fetch(`${proxied.url}/metrics/`, { headers: { authorization: `Bearer ${token}`, ...from(ip) } });
    expect((await fetch(`${proxied.url}/metrics/`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...from(OWNER) } })).status).toBe(200);
    for (let i = 0; i < 30; i++) expect((await metrics(`guess-${i}`)).status).toBe(401);
    const throttled = await metrics("guess-x");
    expect(throttled.status).toBe(429);
    expect(((await throttled.json()) as Envelope).error.code).toBe("too_many_failed_auth");
    expect((await metrics(ADMIN_TOKEN)).status).toBe(429);
  });

  test("a short Host (under 4 characters) changes nothing: the path is read where it starts", async () => {
    // Elysia's default reads the path from the URL's 12th character: on Host `a`,
    // /xx/admin/accounts would be served as /admin/accounts, past the gate.
    const port = Number(new URL(proxied.url).port);
    const get = (path: string, token: string) => rawGet(port, path, { host: "a", authorization: `Bearer ${token}`, ...from("203.0.113.54") });
    expect(await get("/admin/accounts", ADMIN_TOKEN)).toBe(200);
    expect(await get("/admin/accounts", "guess")).toBe(401);
    expect(await get("/xx/admin/accounts", ADMIN_TOKEN)).toBe(404);
    expect(await get("/xx/metrics", ADMIN_TOKEN)).toBe(404);
  });

  test("what takes the admin token: /admin and below, /metrics, each with a trailing slash; nothing else", () => {
    for (const path of ["/admin", "/admin/", "/admin/accounts", "/admin/accounts/?limit=1", "/metrics", "/metrics/", "/metrics?x=1", "/metrics/?x=1"]) {
      expect([path, takesAdminToken(`http://127.0.0.1:8080${path}`)]).toEqual([path, true]);
    }
    for (const path of ["/administrator", "/adminx/accounts", "/metricsx", "/metrics/x", "/v1/admin", "/portal/metrics", "/?next=/admin"]) {
      expect([path, takesAdminToken(`http://127.0.0.1:8080${path}`)]).toEqual([path, false]);
    }
  });
});

describe("client addresses", () => {
  test("the trusted header's last entry; else the socket; IPv6 by /64", () => {
    const server = { requestIP: () => ({ address: "127.0.0.1" }) };
    const req = new Request("http://x/", { headers: { "x-forwarded-for": "1.1.1.1, 2.2.2.2" } });
    expect(clientAddress(req, server, "x-forwarded-for")).toBe("2.2.2.2");
    expect(clientAddress(req, server, undefined)).toBe("127.0.0.1");
    expect(clientAddress(new Request("http://x/"), server, "x-forwarded-for")).toBe("127.0.0.1");
    expect(throttleKey("2001:db8:1:2:3:4:5:6")).toBe(throttleKey("2001:db8:1:2::9"));
    expect(throttleKey("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(loadConfig({ env: { TOLLGATE_TRUSTED_PROXY_HEADER: "X-Real-IP" } }).trusted_proxy_header).toBe("x-real-ip");
    expect(loadConfig().trusted_proxy_header).toBeUndefined();
  });
});
