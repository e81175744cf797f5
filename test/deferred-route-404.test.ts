/**
 * Fetching a deferred completion's result that meets an upstream 404 which is no answer about the
 * request (a route's "404 page not found" from an ingress during a redeploy, Express's "Cannot GET
 * <path>" or Spring's `{"status":404,"error":"Not Found","path":…}`, which echo the path asked and
 * so the id in it) is a failed fetch:
 * the customer's poll gets a 502 as for any other failed fetch, the gateway's poller logs it, and
 * the hold stays, so the result is fetched and charged once the route is back (the upstream made
 * the completion, and billed the operator for it). Only the upstream's own JSON error envelope, naming
 * its request id (other than in an echoed path) or saying not found (xAI's for an expired id),
 * releases the hold, as before.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { settleDeferred } from "../src/gateway/deferred-results";
import { DEFERRED_POLL_INTERVAL_MS } from "../src/modules/deferred/polls";
import type { MockUpstream } from "./support/fake-upstream";
import { onFrontedGateway } from "./support/fronted-upstream";
import type { Customer, Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
let up: MockUpstream;
let g: Gateway;
/** What the ingress in front of the upstream answers to a deferred result's fetch: a route 404, xAI's not-found envelope, or the upstream's own answer. */
let fetches: "route-404" | "express-404" | "spring-404" | "envelope-404" | "upstream" = "upstream";
/** Route 404s the ingress answered. */
let route404s = 0;
const ROUTE_404 = () => new Response("404 page not found", { status: 404, headers: { "content-type": "text/plain" } });
/** Express's default 404 page, and Spring Boot's error JSON: both echo the path asked, the id in it. */
const EXPRESS_404 = (path: string) =>
  new Response(`<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET ${path}</pre>\n</body>\n</html>\n`, {
    status: 404,
    headers: { "content-type": "text/html; charset=utf-8" },
  });
const SPRING_404 = (path: string) => Response.json({ timestamp: "2026-12-07T23:50:00.000+00:00", status: 404, error: "Not Found", path }, { status: 404 });
const ENVELOPE_404 = () => Response.json({ code: "Some requested entity was not found", error: "Requested deferred completion was not found" }, { status: 404 });
onFrontedGateway(
  (req, u) => {
    if (req.method !== "GET" || !u.pathname.startsWith("/v1/chat/deferred-completion/") || fetches === "upstream") return null;
    if (fetches === "envelope-404") return ENVELOPE_404();
    if (fetches === "express-404") return EXPRESS_404(u.pathname);
    if (fetches === "spring-404") return SPRING_404(u.pathname);
    route404s++;
    return ROUTE_404();
  },
  (g_, up_) => {
    g = g_;
    up = up_;
  },
);
/** 100 prompt tokens of grok-4 at $3/M and 40 output at $15/M: what the upstream billed the operator. */
const CHARGE = 300 + 600;
const headers = (c: Customer) => ({ authorization: `Bearer ${c.key}`, "content-type": "application/json" });
const poll = (c: Customer, id: string) => fetch(`${g.url}/v1/chat/deferred-completion/${id}`, { headers: headers(c) });

/** A deferred request the upstream has ready within 10 ms (and forgets after `forgetMs`); its id. */
async function park(c: Customer, forgetMs?: number): Promise<string> {
  const mock = { deferred_ms: 10, deferred_forget_ms: forgetMs, prompt_tokens: 100, completion_tokens: 40 };
  const body = { model: "grok-4", deferred: true, max_tokens: 50, messages: [{ role: "user", content: "hi" }], mock };
  const res = await fetch(`${g.url}/v1/chat/completions`, { method: "POST", headers: headers(c), body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  const id = ((await res.json()) as { request_id: string }).request_id;
  await Bun.sleep(50);
  return id;
}

/** Runs `f` while the ingress answers deferred fetches so. */
async function whileFetches<T>(how: typeof fetches, f: () => Promise<T>): Promise<T> {
  fetches = how;
  try {
    return await f();
  } finally {
    fetches = "upstream";
  }
}

const pending = async (id: string) => (await g.runtime.deps.deferred.get(id))?.settledAt === null;
const held = async (c: Customer) => (await g.account(c.accountId)).held_micros;

test("a route 404 on a customer's poll is a 502 that keeps the hold: the result is served and charged once the route is back", async () => {
  const c = await g.customer(10_000_000);
  const id = await park(c);
  const before = await g.balance(c.accountId);

  const during = await whileFetches("route-404", async () => {
    const res = await poll(c, id);
    return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code };
  });
  expect(during).toEqual({ status: 502, code: "upstream_error" });
  expect({ pending: await pending(id), holds: (await held(c)) > 0 }).toEqual({ pending: true, holds: true });

  // Past the interval in which that poll's answer stands.
  await Bun.sleep(DEFERRED_POLL_INTERVAL_MS + 100);
  const after = await poll(c, id);
  expect(after.status).toBe(200);
  expect(before - (await g.balance(c.accountId))).toBe(CHARGE);
  expect(await held(c)).toBe(0);
});

test("a route 404 met by the gateway's poller keeps the hold too; the next fetch charges the result", async () => {
  const c = await g.customer(10_000_000);
  const id = await park(c);
  const before = await g.balance(c.accountId);
  const asked = route404s;
  await whileFetches("route-404", () => settleDeferred(g.runtime.deps, 0));
  expect({ asked: route404s - asked, pending: await pending(id), charged: before - (await g.balance(c.accountId)) }).toEqual({ asked: 1, pending: true, charged: 0 });
  expect((await poll(c, id)).status).toBe(200);
  expect(before - (await g.balance(c.accountId))).toBe(CHARGE);
});

for (const how of ["express-404", "spring-404"] as const) {
  test(`a route 404 echoing the path asked (${how}) keeps the hold: 502, still pending, charged once the route is back`, async () => {
    const c = await g.customer(10_000_000);
    const id = await park(c);
    const before = await g.balance(c.accountId);
    const status = await whileFetches(how, async () => (await poll(c, id)).status);
    expect({ status, pending: await pending(id), holds: (await held(c)) > 0 }).toEqual({ status: 502, pending: true, holds: true });
    await Bun.sleep(DEFERRED_POLL_INTERVAL_MS + 100);
    expect((await poll(c, id)).status).toBe(200);
    expect(before - (await g.balance(c.accountId))).toBe(CHARGE);
  });
}

test("the upstream's 404 for an expired id (its envelope, naming the id or not) still releases the hold: 404, nothing charged", async () => {
  const c = await g.customer(10_000_000);
  const before = await g.balance(c.accountId);
  const unnamed = await park(c);
  const status = await whileFetches("envelope-404", async () => (await poll(c, unnamed)).status);
  // The mock upstream's own 404 once it forgot the id: xAI's envelope, naming it.
  const named = await park(c, 20);
  const statuses = { unnamed: status, named: (await poll(c, named)).status };
  expect({ statuses, pending: [await pending(unnamed), await pending(named)], held: await held(c) }).toEqual({ statuses: { unnamed: 404, named: 404 }, pending: [false, false], held: 0 });
  expect((await poll(c, unnamed)).status).toBe(404);
  expect(await g.balance(c.accountId)).toBe(before);
});
