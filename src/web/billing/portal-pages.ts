import { balanceForShow, readForShow } from "../../money/credit-store";
import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { ApiError } from "../../lib/errors";
import { usdToMicros } from "../../money/units";
import { usd } from "../format";
import { field } from "../forms";
import { portalActor } from "../portal/page-kit";
import { htmlResponse, redirectResponse } from "../html";
import { errorPage, page, type Flash } from "../layout";
import { flashCookie, isSecure, takeFlash, type PortalUser } from "../session";
import { billingSettings, withDecimalPoint } from "../../modules/billing/amounts";
import { billingInfo, createCheckout, listPayments, parseAmount } from "../../modules/billing/service";
import { billingView } from "./views";
import { reconcileSession } from "../../modules/billing/stripe-sync";
import { ownPaymentBySession, ReturnChecks } from "../../modules/billing/returns";

// A fresh object per route: Elysia writes macro hooks into it, and a shared one leaks between apps.
const hide = () => ({ portal: true, detail: { hide: true } }) as const;

/**
 * Where the "Continue to payment" form may end up: the page's CSP limits form targets, and
 * browsers apply that to the redirect after the POST, so Stripe's checkout origin is allowed here
 * (and the configured API host, which serves checkout pages in tests and behind proxies).
 */
function checkoutOrigins(deps: ModuleDeps): string {
  const c = deps.config;
  const origins = ["https://checkout.stripe.com"];
  if (c.stripe_api_host) origins.push(`${c.stripe_api_protocol ?? "https"}://${c.stripe_api_host}${c.stripe_api_port ? `:${c.stripe_api_port}` : ""}`);
  return origins.join(" ");
}

/** Where Stripe sends the customer back: the portal, on the public URL or else the caller's origin. */
export function portalReturnUrls(deps: ModuleDeps, request: Request): { success: string; cancel: string } {
  const base = (deps.config.public_url ?? new URL(request.url).origin).replace(/\/+$/, "");
  return {
    success: `${base}/portal/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
    cancel: `${base}/portal/billing?checkout=cancelled`,
  };
}

/** Portal pages for payments and the low-balance alert, under /portal/billing. */
export const billingPortalPages = (deps: ModuleDeps) => {
  const kit = billingKit(deps);
  return new Elysia()
    .use(deps.webAuth)
    .get("/portal/billing", async ({ request, user, query }) => await kit.render(request, user, { flash: await returnFlash(deps, kit, user, query) }), hide())
    .post("/portal/billing/checkout", ({ request, user, body }) => startCheckout(deps, kit, request, user, body), hide())
    .post("/portal/billing/alert", ({ request, user, body }) => setAlert(deps, kit, request, user, body), hide());
};

/** What the billing pages share: the settings, the Stripe client, whether cards can pay, the page. */
function billingKit(deps: ModuleDeps) {
  const settings = billingSettings(deps.config);
  const stripe = deps.stripe ?? null;
  const payable = Boolean(stripe && settings.enabled);
  const formTargets = checkoutOrigins(deps);
  const checks = new ReturnChecks(undefined, deps.now);

  const render = async (request: Request, u: PortalUser, o: { flash?: Flash | null; error?: string; amount?: string; status?: number } = {}) => {
    const payments = await listPayments(deps.store, { limit: 50, accountId: u.account.id });
    const alert = deps.alerts ? await deps.alerts.view(u.account.id) : null;
    await readForShow(deps.credits, { accountId: u.account.id, capKeyId: null, memberId: null });
    const f = takeFlash(request);
    const body = billingView({
      csrf: u.session.csrf,
      info: billingInfo(settings),
      balance: await balanceForShow(deps.credits, u.account.id),
      payments,
      alert,
      email: u.account.email ?? (u.email.includes("@") ? u.email : null),
      suspended: u.account.status !== "active",
      contact: { text: deps.config.billing_contact_text, url: deps.config.billing_contact_url },
      error: o.error,
      amount: o.amount,
    });
    const res = htmlResponse(
      page({ area: "portal", title: "Billing", active: "billing", who: u.email, csrf: u.session.csrf, flash: o.flash ?? f.flash, body }),
      o.status ?? 200,
      f.headers,
    );
    if (payable) {
      const csp = res.headers.get("content-security-policy") ?? "";
      res.headers.set("content-security-policy", csp.replace("form-action 'self'", `form-action 'self' ${formTargets}`));
    }
    return res;
  };
  const back = (request: Request, kind: Flash["kind"], message: string) =>
    redirectResponse("/portal/billing", [flashCookie({ kind, message }, isSecure(deps, request))]);
  return { settings, stripe, payable, render, back, checks };
}

type BillingKit = ReturnType<typeof billingKit>;

/** The message for a customer back from Stripe's checkout (cancelled, or paid: credited yet?). */
async function returnFlash(deps: ModuleDeps, kit: BillingKit, user: PortalUser, query: Record<string, unknown>): Promise<Flash | null> {
  if (query.checkout === "cancelled") return { kind: "warn", message: "Checkout cancelled: nothing was charged." };
  const sessionId = typeof query.session_id === "string" ? query.session_id : "";
  if (query.checkout !== "success" || !kit.payable || !/^cs_[A-Za-z0-9_]+$/.test(sessionId)) return null;
  const payment = await ownPaymentBySession(deps.store, user.account.id, sessionId);
  // Stripe is asked only about the account's own pending payment, once per interval: a made-up or reloaded id costs no call.
  if (payment?.status === "pending" && kit.checks.take(payment.id)) return await confirmReturn(deps, kit, user, sessionId);
  if (payment?.paidAt != null) return await received(deps, user);
  if (payment?.status === "pending") return CONFIRMING;
  if (payment) return { kind: "warn", message: "This checkout did not complete: nothing was charged." };
  return { kind: "warn", message: "Thank you! The credits appear here as soon as Stripe confirms the payment." };
}

const CONFIRMING: Flash = { kind: "warn", message: "Thank you! Stripe is still confirming the payment; the credits appear here as soon as it has." };

/** Confirms a returned session with Stripe now rather than wait for the webhook; both credit once. */
async function confirmReturn(deps: ModuleDeps, kit: BillingKit, user: PortalUser, sessionId: string): Promise<Flash> {
  try {
    const r = await reconcileSession(deps.store, kit.stripe!, kit.settings, sessionId, user.account.id, deps.now(), deps.alerts);
    await deps.alerts?.check(user.account.id);
    if (r.result === "credited" || r.result === "duplicate") return await received(deps, user);
    return CONFIRMING;
  } catch (e) {
    console.error("stripe: confirming a returned checkout failed:", (e as Error).message);
    return { kind: "warn", message: "Thank you! The credits appear here as soon as Stripe confirms the payment." };
  }
}

/** Read from the database first (a shared store): this instance may never have leased the account. */
async function received(deps: ModuleDeps, user: PortalUser): Promise<Flash> {
  await readForShow(deps.credits, { accountId: user.account.id, capKeyId: null, memberId: null });
  const available = (await balanceForShow(deps.credits, user.account.id)).available;
  return { kind: "ok", message: `Payment received: your credits have been added. Available now: ${usd(available)}.` };
}

/** "Continue to payment": a Stripe checkout for the amount, or the form again with what is wrong. */
async function startCheckout(deps: ModuleDeps, kit: BillingKit, request: Request, user: PortalUser, body: unknown) {
  if (!kit.payable) return htmlResponse(errorPage(404, "Not available", "Card payments are not enabled on this gateway.", { href: "/portal", label: "Back to the portal" }), 404);
  // parseAmount reads a comma as thousands or decimals only where that is unambiguous.
  const amount = field(body, "amount").trim().replace(/^\$/, "");
  try {
    const minor = parseAmount(kit.settings, amount);
    const urls = portalReturnUrls(deps, request);
    const row = await createCheckout(deps.store, kit.stripe!, kit.settings, { accountId: user.account.id, amountMinor: minor, successUrl: urls.success, cancelUrl: urls.cancel }, deps.now());
    return redirectResponse(row.url);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status >= 500) return kit.back(request, "error", "The payment provider could not start the checkout. Try again in a moment.");
    // 400 for the amount, 429 for too many checkouts open (its message says when to come back).
    return await kit.render(request, user, { error: e.message, amount, status: e.status === 429 ? 429 : 400 });
  }
}

/** The low-balance alert's threshold: a new one, off (0), or back to the default. */
async function setAlert(deps: ModuleDeps, kit: BillingKit, request: Request, user: PortalUser, body: unknown) {
  const { back } = kit;
  if (!deps.alerts) return back(request, "error", "Alerts are not available.");
  const actor = portalActor(user);
  if (field(body, "reset")) {
    await deps.alerts.setThreshold(user.account.id, null, actor);
    return back(request, "ok", "The low-balance alert uses the default threshold again.");
  }
  let micros: number;
  try {
    micros = usdToMicros(withDecimalPoint(field(body, "threshold_usd").trim().replace(/^\$/, ""), 2) ?? "unclear");
    if (micros < 0) throw new Error("negative");
  } catch {
    return back(request, "error", "Enter the alert threshold in USD, e.g. 5 or 12.50 (0 turns the alert off).");
  }
  await deps.alerts.setThreshold(user.account.id, micros, actor);
  return back(request, "ok", micros === 0 ? "Low-balance alert turned off." : `You will be alerted when available credit falls below ${usd(micros)}.`);
}
