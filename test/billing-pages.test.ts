import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { paidSession, startFakeStripe, stripeEnv, type FakeStripe } from "./support/fake-stripe";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";
import { WebClient } from "./support/web-client";
import { join } from "./support/teams";

const USD = 1_000_000;

let stripe: FakeStripe;
let gw: BinaryGateway;

beforeAll(async () => {
  stripe = startFakeStripe();
  gw = await startBinaryGateway({ entry: "source", dbPath: "t.db", stderr: "inherit", env: { ...stripeEnv(stripe), TOLLGATE_LOW_BALANCE_THRESHOLD_USD: "2" } });
});
afterAll(async () => {
  await gw.stop();
  await stripe.stop();
});

/** A browser stand-in signed in to the portal of a new account. */
async function portalClient(credits = 0, email = "pages@example.com") {
  const acc = (await (await gw.admin("/admin/accounts", { body: { name: "Pages customer", email } })).json()) as { id: string };
  if (credits) await gw.admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: credits } });
  const web = new WebClient(gw.url);
  web.cookies.set("tg_portal", await gw.session("customer", acc.id));
  return { web, accountId: acc.id };
}

async function consoleClient() {
  const web = new WebClient(gw.url);
  web.cookies.set("tg_console", await gw.session("admin", null));
  return web;
}

const alertOf = async (accountId: string) =>
  (await (await gw.admin(`/admin/accounts/${accountId}/alerts/low-balance`)).json()) as { threshold_micros: number; source: string };

describe("portal billing page", () => {
  test("shows presets, a custom amount, the history and the alert; the form's CSP allows Stripe's checkout", async () => {
    const { web } = await portalClient(5 * USD);
    const { res, html } = await web.page("/portal/billing");
    expect(res.status).toBe(200);
    expect(html).toContain("Buy credits");
    expect(html.match(/data-testid="preset"/g)).toHaveLength(3);
    expect(html).toContain('value="25.00"');
    expect(html).toContain("Between 5.00 and 1000.00 USD");
    expect(html).toContain("No payments yet");
    expect(html).toContain('<a href="/portal/billing" aria-current="page">Billing</a>');
    expect(html).toContain("Low-balance alert");
    expect(res.headers.get("content-security-policy")).toContain(`form-action 'self' https://checkout.stripe.com http://127.0.0.1:${stripe.port}`);
    expect((await new WebClient(gw.url).get("/portal/billing")).status).toBe(303); // signed out → sign-in
  });

  test("a preset redirects to the Stripe Checkout page; coming back confirms the payment and credits once", async () => {
    const { web, accountId } = await portalClient();
    const res = await web.submit("/portal/billing", "/portal/billing/checkout", { amount: "10.00" });
    expect(res.status).toBe(303);
    const location = res.headers.get("location")!;
    expect(location).toStartWith(`${stripe.url}/checkout/cs_test_`);
    const id = location.split("/").pop()!;
    const session = stripe.sessions.get(id)!;
    expect(session.success_url).toBe(`${gw.url}/portal/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}`);

    // The customer pays; Stripe sends the browser back with the session id.
    stripe.sessions.set(id, paidSession(session));
    const back = await web.page(`/portal/billing?checkout=success&session_id=${id}`);
    expect(back.html).toContain("Payment received");
    expect(back.html).toContain('data-status="paid"');
    const again = await web.page(`/portal/billing?checkout=success&session_id=${id}`);
    expect(again.html).toContain("Payment received");
    const acc = await gw.account(accountId);
    expect(acc.balance_micros).toBe(10 * USD);

    const cancelled = await web.page("/portal/billing?checkout=cancelled");
    expect(cancelled.html).toContain("Checkout cancelled");
  });

  test("an out-of-range custom amount re-renders the form with the error and calls no one", async () => {
    const { web } = await portalClient();
    const before = stripe.requests.length;
    const res = await web.submit("/portal/billing", "/portal/billing/checkout", { amount: "2" });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain("amount must be between 5.00 and 1000.00 USD");
    expect(html).toContain('aria-invalid="true"');
    expect(stripe.requests.length).toBe(before);
    // Without the CSRF token nothing happens either.
    expect((await web.post("/portal/billing/checkout", { amount: "10" })).status).toBe(403);
    expect(stripe.requests.length).toBe(before);
  });

  test("a comma in the custom amount groups thousands or marks decimals, never vanishes; an unclear one is asked again", async () => {
    const { web } = await portalClient();
    const sessions = () => stripe.requests.filter((r) => r.path === "/v1/checkout/sessions");
    const cents = async (amount: string) => {
      const res = await web.submit("/portal/billing", "/portal/billing/checkout", { amount });
      expect(res.status).toBe(303);
      return sessions().at(-1)!.params["line_items[0][price_data][unit_amount]"];
    };
    // A decimal comma, as much of Europe writes it: 5.50, not 550.00.
    expect(await cents("5,50")).toBe("550");
    expect(await cents("12,5")).toBe("1250");
    expect(await cents("1,000")).toBe("100000");
    expect(await cents("$1,000.00")).toBe("100000");
    const before = sessions().length;
    for (const amount of ["5,5,0", "1.000,50", "5,5050", "1,00.50", "0,500"]) {
      const res = await web.submit("/portal/billing", "/portal/billing/checkout", { amount });
      expect(res.status).toBe(400);
      const html = await res.text();
      expect(html).toContain("amount is unclear");
      expect(html).toContain(`value="${amount}"`);
      expect(html).toContain('aria-invalid="true"');
    }
    // The API takes plain decimals only: a comma there is refused, never read as 550.
    const c = await gw.customer(0);
    const api = await fetch(`${gw.url}/v1/billing/checkout`, { method: "POST", headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" }, body: JSON.stringify({ amount: "5,50" }) });
    expect(api.status).toBe(400);
    expect(sessions().length).toBe(before);
    // The alert threshold reads commas the same way.
    expect((await web.submit("/portal/billing", "/portal/billing/alert", { threshold_usd: "7,50" })).status).toBe(303);
    expect((await web.page("/portal/billing")).html).toContain("falls below $7.50.");
  });

  test("the alert threshold is set, reset and validated from the portal", async () => {
    const { web, accountId } = await portalClient(10 * USD);
    const set = await web.submit("/portal/billing", "/portal/billing/alert", { threshold_usd: "7.50" });
    expect(set.status).toBe(303);
    let page = await web.page("/portal/billing");
    expect(page.html).toContain("You will be alerted when available credit falls below $7.50.");
    expect(page.html).toContain('value="7.50"');
    expect(await alertOf(accountId)).toMatchObject({ threshold_micros: 7_500_000, source: "account" });

    await web.submit("/portal/billing", "/portal/billing/alert", { threshold_usd: "-1" });
    expect((await web.page("/portal/billing")).html).toContain("Enter the alert threshold in USD");
    await web.submit("/portal/billing", "/portal/billing/alert", { threshold_usd: "", reset: "1" });
    page = await web.page("/portal/billing");
    expect(page.html).toContain("uses the default threshold again");
    expect(await alertOf(accountId)).toMatchObject({ threshold_micros: 2 * USD, source: "default" });
  });

  test("the alert's change is audited as the member who made it, as every portal change is", async () => {
    const c = await gw.customer(USD);
    const owner = await join(gw, c.accountId, "owner", `alert-owner-${crypto.randomUUID().slice(0, 6)}@example.com`);
    expect((await owner.w.submit("/portal/billing", "/portal/billing/alert", { threshold_usd: "3" })).status).toBe(303);
    const audit = (await (await gw.admin("/admin/audit?limit=20")).json()) as { data: { actor: string; action: string }[] };
    const alert = audit.data.find((e) => e.action.includes("alert"));
    expect(alert?.actor).toBe(`portal:${c.accountId}:${owner.memberId}`);
  });
});

describe("console payments page", () => {
  test("lists payments across accounts with filters, and sets an account's alert", async () => {
    const a = await portalClient(0, "console-a@example.com");
    await a.web.submit("/portal/billing", "/portal/billing/checkout", { amount: "25" });
    const b = await portalClient(0, "console-b@example.com");
    await b.web.submit("/portal/billing", "/portal/billing/checkout", { amount: "100" });

    const op = await consoleClient();
    const all = await op.page("/console/payments");
    expect(all.res.status).toBe(200);
    expect(all.html).toContain('<a href="/console/payments" aria-current="page">Payments</a>');
    expect(all.html).toContain(`/console/accounts/${a.accountId}`);
    expect(all.html).toContain(`/console/accounts/${b.accountId}`);
    const one = await op.page(`/console/payments?account_id=${a.accountId}&status=pending`);
    expect(one.html).toContain("25.00 USD");
    expect(one.html).not.toContain("100.00 USD");
    expect(one.html).toContain("Low-balance alert");

    const res = await op.submit(`/console/payments?account_id=${a.accountId}`, `/console/payments/${a.accountId}/alert`, { threshold_usd: "3" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/console/payments?account_id=${a.accountId}`);
    expect(await alertOf(a.accountId)).toMatchObject({ threshold_micros: 3 * USD, source: "account" });
    // A decimal comma is read as one, as in the portal: 7.50, not 750.
    await op.submit(`/console/payments?account_id=${a.accountId}`, `/console/payments/${a.accountId}/alert`, { threshold_usd: "7,50" });
    expect(await alertOf(a.accountId)).toMatchObject({ threshold_micros: 7.5 * USD });
    expect((await a.web.get("/console/payments")).status).toBe(303); // a customer session is not an operator session
  });
});
