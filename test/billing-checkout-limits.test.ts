/**
 * The gateway's calls to Stripe use the operator's one secret key, whose rate limit every
 * customer shares, so none is a customer's to loop:
 * - POST /v1/billing/checkout is a request of the key's and account's rate limits (429 past them,
 *   with the x-ratelimit-* headers), and an account may have MAX_OPEN_CHECKOUTS checkouts open
 *   (pending, opened within the hour a session stays payable): one more is a 429
 *   `too_many_open_checkouts` that calls no one and records nothing, in the API and the portal.
 * - The portal's return page asks Stripe only about the account's own pending payment, at most
 *   once per RETURN_CHECK_INTERVAL_MS: a made-up or another account's session id costs no Stripe
 *   call and no log line.
 */
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, spyOn, test } from "bun:test";
import OpenAI from "openai";
import { CHECKOUT_LIFETIME_MS, MAX_OPEN_CHECKOUTS } from "../src/modules/billing/pending";
import { RETURN_CHECK_INTERVAL_MS } from "../src/modules/billing/returns";
import { deliver, paidSession, startFakeStripe, stripeEvent, type FakeStripe } from "./support/fake-stripe";
import { startGateway, TestClock, type Customer, type Gateway } from "./support/gateway";
import { WebClient } from "./support/web-client";

setDefaultTimeout(30_000);
let stripe: FakeStripe;
let gw: Gateway;
beforeAll(async () => {
  stripe = startFakeStripe();
  // Frozen: no bucket refills and no checkout expires unless a test moves the clock.
  gw = await startGateway({ config: stripe.config({ public_url: "https://gw.example.com" }), clock: new TestClock() });
});
afterAll(async () => {
  await gw?.stop();
  await stripe?.stop();
});

const stripeCalls = (method: string, path: RegExp) => stripe.requests.filter((r) => r.method === method && path.test(r.path)).length;
const creates = () => stripeCalls("POST", /^\/v1\/checkout\/sessions$/);
const retrievals = () => stripeCalls("GET", /^\/v1\/checkout\/sessions\//);
const rowsOf = (accountId: string) =>
  (gw.runtime.deps.store.sqlite.query("SELECT count(*) AS n FROM payments WHERE account_id = ?").get(accountId) as { n: number }).n;

const checkout = (key: string, amount = 10) =>
  fetch(`${gw.url}/v1/billing/checkout`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ amount }),
  });

/** A checkout that must succeed: its payment id and Stripe session. */
async function opened(key: string): Promise<{ id: string; session: Record<string, unknown> }> {
  const res = await checkout(key);
  expect(res.status).toBe(201);
  const view = (await res.json()) as { id: string; stripe_session_id: string };
  return { id: view.id, session: stripe.sessions.get(view.stripe_session_id)! };
}

describe("POST /v1/billing/checkout", () => {
  test("a key limited to 5 requests a minute makes 5 Stripe checkouts of 40 tries; the rest are its 429", async () => {
    const c = await gw.customer(1_000_000);
    expect((await gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 5 } })).status).toBe(200);
    const before = creates();
    const statuses: Record<number, number> = {};
    let refused: Response | null = null;
    for (let i = 0; i < 40; i++) {
      const r = await checkout(c.key);
      if (i === 0) expect(r.headers.get("x-ratelimit-limit-requests")).toBe("5");
      if (r.status === 429 && !refused) refused = r;
      else await r.arrayBuffer();
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
    expect({ statuses, created: creates() - before, rows: rowsOf(c.accountId) }).toEqual({ statuses: { 201: 5, 429: 35 }, created: 5, rows: 5 });
    expect(refused!.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(Number(refused!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await refused!.json()) as { error: { code: string } }).error.code).toBe("rate_limit_exceeded");
  });

  test(`an account may have ${MAX_OPEN_CHECKOUTS} checkouts open: one more is a 429 the SDK does not retry; paid or expired ones free their place`, async () => {
    const c = await gw.customer(1_000_000);
    const made = [];
    for (let i = 0; i < MAX_OPEN_CHECKOUTS; i++) made.push(await opened(c.key));
    const sent = stripe.requests.findLast((r) => r.path === "/v1/checkout/sessions")!;
    // The session stays payable as long as it counts as open.
    expect(Number(sent.params.expires_at)).toBe(Math.floor((gw.clock.now() + CHECKOUT_LIFETIME_MS) / 1000));

    let sdkRequests = 0;
    const client = new OpenAI({
      baseURL: `${gw.url}/v1`,
      apiKey: c.key,
      fetch: (input, init) => (sdkRequests++, fetch(input, init)),
    });
    const before = creates();
    const err = (await client.post("/billing/checkout", { body: { amount: 10 } }).catch((e) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect({ status: err.status, code: err.code, type: err.type, sdkRequests }).toEqual({ status: 429, code: "too_many_open_checkouts", type: "requests", sdkRequests: 1 });
    expect(err.message).toContain(`${MAX_OPEN_CHECKOUTS} checkouts open`);
    expect([err.headers?.get("retry-after"), err.headers?.get("x-should-retry")]).toEqual([String(CHECKOUT_LIFETIME_MS / 1000), "false"]);
    expect({ created: creates() - before, rows: rowsOf(c.accountId) }).toEqual({ created: 0, rows: MAX_OPEN_CHECKOUTS });

    // A paid checkout is no longer open: one more may start, then the cap holds again.
    await deliver(gw.url, stripeEvent("checkout.session.completed", paidSession(made[0]!.session)));
    await opened(c.key);
    expect((await checkout(c.key)).status).toBe(429);
    // An hour on, the unpaid ones have expired at Stripe and count no more.
    gw.clock.add(CHECKOUT_LIFETIME_MS);
    try {
      await opened(c.key);
      expect(rowsOf(c.accountId)).toBe(MAX_OPEN_CHECKOUTS + 2);
    } finally {
      // Back to the real time: the portal's sessions are made on the real clock.
      gw.clock.add(-CHECKOUT_LIFETIME_MS);
    }
  });

  test("the portal's form shows the same refusal, and calls no one", async () => {
    const c = await gw.customer(1_000_000);
    for (let i = 0; i < MAX_OPEN_CHECKOUTS; i++) await opened(c.key);
    const web = new WebClient(gw.url);
    web.cookies.set("tg_portal", await gw.session("customer", c.accountId));
    const before = creates();
    const res = await web.submit("/portal/billing", "/portal/billing/checkout", { amount: "10.00" });
    expect(res.status).toBe(429);
    expect(await res.text()).toContain(`${MAX_OPEN_CHECKOUTS} checkouts open that are not paid yet`);
    expect(creates() - before).toBe(0);
  });

  test("the spec declares the 429", async () => {
    const spec = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { responses: Record<string, any> }>> };
    const op = spec.paths["/v1/billing/checkout"]!.post!;
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["201", "429"]));
    expect(op.responses["429"].content["application/json"].schema.required).toEqual(["error"]);
  });
});

describe("the portal's return from Stripe", () => {
  let errors: ReturnType<typeof spyOn>;
  beforeAll(() => {
    errors = spyOn(console, "error");
  });
  afterEach(() => errors.mockClear());
  afterAll(() => errors.mockRestore());

  const signedIn = async (c: Customer) => `tg_portal=${await gw.session("customer", c.accountId)}`;
  const back = async (cookie: string, sessionId: string) => {
    const r = await fetch(`${gw.url}/portal/billing?checkout=success&session_id=${sessionId}`, { headers: { cookie } });
    return { status: r.status, html: await r.text() };
  };

  test("40 made-up session ids, and another account's, ask Stripe nothing and log nothing", async () => {
    const c = await gw.customer(1_000_000);
    const other = await gw.customer(1_000_000);
    const theirs = await opened(other.key);
    const cookie = await signedIn(c);
    const before = retrievals();
    const statuses: Record<number, number> = {};
    for (let i = 0; i < 40; i++) {
      const r = await back(cookie, `cs_made_up_${i}`);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
    const page = await back(cookie, theirs.session.id as string);
    expect(page.html).not.toContain("Payment received");
    expect({ statuses, retrievals: retrievals() - before, logged: errors.mock.calls.length }).toEqual({ statuses: { 200: 40 }, retrievals: 0, logged: 0 });
  });

  test("reloading the return page of one's own pending checkout asks Stripe once per interval; a paid one is shown without asking", async () => {
    const c = await gw.customer(0);
    const mine = await opened(c.key);
    const id = mine.session.id as string;
    const cookie = await signedIn(c);
    const before = retrievals();
    for (let i = 0; i < 40; i++) expect((await back(cookie, id)).html).toContain("Stripe is still confirming");
    expect(retrievals() - before).toBe(1);
    // The interval over, the next view asks again and credits what Stripe says is paid.
    stripe.sessions.set(id, paidSession(mine.session));
    gw.clock.add(RETURN_CHECK_INTERVAL_MS);
    expect((await back(cookie, id)).html).toContain("Payment received");
    expect(await gw.balance(c.accountId)).toBe(10_000_000);
    for (let i = 0; i < 10; i++) expect((await back(cookie, id)).html).toContain("Payment received");
    expect(retrievals() - before).toBe(2);
  });
});
