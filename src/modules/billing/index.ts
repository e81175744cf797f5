import { Elysia } from "elysia";
import type Stripe from "stripe";
import { z } from "zod";
import type { ModuleDeps } from "../../runtime/module-deps";
import { ApiError, errors } from "../../lib/errors";
import { getAccountRow } from "../accounts/service";
import { IdParams } from "../accounts/model";
import { ownerKeyAuth, OWNER_ONLY_NOTE } from "../members/owner-key";
import { billingSettings, type BillingSettings } from "./amounts";
import { BillingInfo, CheckoutBody, CheckoutView, CustomerPaymentsQuery, PaymentList, PaymentView, PaymentsQuery, WebhookAck } from "./model";
import { billingInfo, createCheckout, getPayment, parseAmount, paymentsPage, paymentView } from "./service";
import { billingConsolePages } from "../../web/billing/console-pages";
import { billingPortalPages, portalReturnUrls } from "../../web/billing/portal-pages";
import { fetchReceipt } from "./stripe-sync";
import { CHECKOUT_LIFETIME_MS, MAX_OPEN_CHECKOUTS } from "./pending";
import { withinLimits } from "../../gateway/limits/within-limits";
import { handleStripeEvent } from "./webhook";

const disabled = () => new ApiError(404, "Payments are not enabled on this gateway.", "invalid_request_error", "payments_disabled");

const PAGING = "Newest first, `limit` per page (default 50, at most 200); the next page with `before` = the previous page's `next_cursor`.";

/** Card top-ups through Stripe: the customer and admin API, Stripe's webhook, and the dashboard pages. */
export const billingModule = (deps: ModuleDeps) => {
  const settings = billingSettings(deps.config);
  const stripe = deps.stripe ?? null;
  return new Elysia()
    .use(customerBillingRoutes(deps, settings, stripe))
    .use(adminBillingRoutes(deps))
    .use(stripeWebhookRoute(deps, settings, stripe))
    .use(billingPortalPages(deps))
    .use(billingConsolePages(deps));
};

/**
 * A customer's top-up options (any key: the gateway's settings, the same for every account),
 * checkout and payments (the owner's keys, as the portal's billing pages are the owner's).
 */
const customerBillingRoutes = (deps: ModuleDeps, settings: BillingSettings, stripe: Stripe | null) =>
  new Elysia({ prefix: "/v1/billing", tags: ["billing"] })
    .use(deps.auth)
    .use(ownerKeyAuth(deps))
    .get("", () => billingInfo(settings), {
      customer: true,
      response: BillingInfo,
      detail: { summary: "Top-up options: whether card payments are enabled, currency, presets and limits" },
    })
    .post(
      "/checkout",
      async ({ principal, body, request, set, status }) => {
        if (!stripe || !settings.enabled) throw disabled();
        const amountMinor = parseAmount(settings, body.amount);
        const back = portalReturnUrls(deps, request);
        const input = { accountId: principal.accountId, amountMinor, successUrl: body.success_url ?? back.success, cancelUrl: body.cancel_url ?? back.cancel };
        // Stripe's rate limit is the operator's, shared by every customer: a checkout is a request of the key's limits.
        const row = await withinLimits(deps.limiter, principal, set, () => createCheckout(deps.store, stripe, settings, input, deps.now()));
        return status(201, { ...paymentView(row), url: row.url });
      },
      {
        ownerKey: true,
        body: CheckoutBody,
        response: { 201: CheckoutView },
        detail: {
          summary: "Start a Stripe Checkout for a top-up; redirect the customer to `url`. Credited once Stripe confirms payment.",
          description:
            `${OWNER_ONLY_NOTE} Each checkout is a request of the key's and account's rate limits (429 \`rate_limit_exceeded\` past them). ` +
            `An account may have ${MAX_OPEN_CHECKOUTS} checkouts open (not paid, opened within the last ${CHECKOUT_LIFETIME_MS / 60_000} minutes, which is how long one stays payable); ` +
            "one more is a 429 `too_many_open_checkouts` with `retry-after` (when the oldest expires) and `x-should-retry: false`.",
          responses: { 429: { description: "Past the key's rate limits, or too many checkouts open (the OpenAI error envelope)" } },
        },
      },
    )
    .get(
      "/payments",
      ({ principal, query }) => paymentsPage(deps.store, { ...query, accountId: principal.accountId }),
      {
        ownerKey: true,
        query: CustomerPaymentsQuery,
        response: PaymentList,
        detail: { summary: "The account's card payments, newest first", description: `${PAGING} ${OWNER_ONLY_NOTE}` },
      },
    )
    .get("/payments/:id", async ({ principal, params }) => paymentView(await getPayment(deps.store, params.id, principal.accountId)), {
      ownerKey: true,
      params: IdParams,
      response: PaymentView,
      detail: { summary: "One card payment of the account", description: OWNER_ONLY_NOTE },
    });

/** Every account's card payments, and one account's (admin token). */
const adminBillingRoutes = (deps: ModuleDeps) =>
  new Elysia({ prefix: "/admin", tags: ["admin"] })
    .use(deps.auth)
    .get("/payments", ({ query }) => paymentsPage(deps.store, { ...query, accountId: query.account_id }), {
      admin: true,
      query: PaymentsQuery,
      response: PaymentList,
      detail: { summary: "Card payments of every account (filter by account_id, status), newest first", description: PAGING },
    })
    .get(
      "/accounts/:id/payments",
      async ({ params, query }) => {
        await getAccountRow(deps.store, params.id);
        return paymentsPage(deps.store, { ...query, accountId: params.id });
      },
      { admin: true, params: IdParams, query: CustomerPaymentsQuery, response: PaymentList, detail: { summary: "One account's card payments", description: PAGING } },
    );

/** Stripe's events. Not behind any auth: Stripe proves itself with the signature over the raw body. */
const stripeWebhookRoute = (deps: ModuleDeps, settings: BillingSettings, stripe: Stripe | null) => {
  const webhookSecret = deps.config.stripe_webhook_secret;
  return new Elysia({ tags: ["webhooks"] })
    .post(
      "/webhooks/stripe",
      async ({ body, headers }) => {
        if (!stripe || !webhookSecret) throw disabled();
        const signature = headers["stripe-signature"];
        if (!signature) throw errors.badRequest("Missing Stripe-Signature header.", "stripe-signature", "invalid_signature");
        let event;
        try {
          event = await stripe.webhooks.constructEventAsync(body, signature, webhookSecret);
        } catch {
          throw errors.badRequest("The Stripe signature does not match this payload (or is too old).", "stripe-signature", "invalid_signature");
        }
        const outcome = await handleStripeEvent(deps.store, settings, event, deps.now(), deps.alerts);
        if (outcome.accountId) await deps.alerts?.check(outcome.accountId);
        if (outcome.result === "credited" && outcome.paymentId && outcome.paymentIntent) {
          void fetchReceipt(deps.store, stripe, outcome.paymentId, outcome.paymentIntent);
        }
        return { received: true as const, result: outcome.result };
      },
      {
        parse: "text",
        body: z.string().describe("The Stripe event JSON exactly as sent: the signature covers these bytes."),
        headers: z.looseObject({ "stripe-signature": z.string().optional().describe("Stripe's t=...,v1=... signature header.") }),
        response: WebhookAck,
        detail: {
          summary: "Stripe webhook: verifies the signature, credits paid checkouts once, debits refunds and lost disputes",
          security: [],
        },
      },
    );
};
