import { eq } from "drizzle-orm";
import type Stripe from "stripe";
import type { Store } from "../../store/store";
import { run } from "../../store/work";
import type { CreditWatch } from "../alerts/credits";
import type { BillingSettings } from "./amounts";
import { handleStripeEvent, type WebhookOutcome } from "./webhook";

/* Calls to Stripe's API made by Tollgate itself, beside the webhooks it receives (webhook.ts). */

/** Stores the receipt link of a paid intent's charge (best effort, after the credit has committed). */
export async function fetchReceipt(store: Store, stripe: Stripe, paymentId: string, intent: string): Promise<void> {
  try {
    const pi = await stripe.paymentIntents.retrieve(intent, { expand: ["latest_charge"] });
    const charge = pi.latest_charge;
    if (!charge || typeof charge === "string") return;
    await store.tx((q) =>
      run(q.db.update(q.t.payments).set({ stripeChargeId: charge.id, receiptUrl: charge.receipt_url ?? null, updatedAt: Date.now() }).where(eq(q.t.payments.id, paymentId))),
    );
  } catch (e) {
    console.error(`stripe: fetching the receipt of ${intent} failed:`, (e as Error).message);
  }
}

/**
 * Asks Stripe for a session the customer just returned from and applies it like its webhook, so a
 * paid checkout is credited at once even when the webhook is late or misconfigured. Idempotent
 * with the webhook: whichever comes first credits, the other is a duplicate.
 */
export async function reconcileSession(
  store: Store, stripe: Stripe, s: BillingSettings, sessionId: string, accountId: string, now = Date.now(), watch?: CreditWatch,
): Promise<WebhookOutcome> {
  const session = await stripe.checkout.sessions.retrieve(sessionId);
  if (session.metadata?.tollgate_account_id !== accountId) return { result: "ignored" };
  const event = { id: `retrieved:${session.id}`, object: "event", type: "checkout.session.completed", data: { object: session } } as unknown as Stripe.Event;
  return handleStripeEvent(store, s, event, now, watch);
}
