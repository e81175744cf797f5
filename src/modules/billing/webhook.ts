import { and, eq, or } from "drizzle-orm";
import type Stripe from "stripe";
import type { Store } from "../../store/store";
import { all, get, run, type Q, type Work } from "../../store/work";
import { newId } from "../../lib/ids";
import { recordAudit } from "../audit/service";
import { applyCredit, DuplicateRef } from "../../money/ledger";
import type { CreditNote, CreditWatch } from "../alerts/credits";
import { creditFor, currencyExponent, type BillingSettings } from "./amounts";
import { ACTOR, applyDeferred, idOf, onDisputeClosed, onDisputeOpened, onRefunded, paymentFor, type Outcome, type WebhookOutcome } from "./reversals";

export type { WebhookOutcome } from "./reversals";

/** What an event asks of the database: a unit of work, durable when it moves money. */
type Job = { work: (q: Q) => Work<Outcome>; money: boolean };

/**
 * Applies one verified Stripe event. Every money change runs in one durable transaction with its
 * ledger entry, payment row and audit entry, and is idempotent: the payment row records what was
 * applied and the ledger's unique (account, kind, ref) index stops a second post even from another
 * process, so repeated or concurrent deliveries of an event change the balance once. `watch` (the
 * low-balance alert) sees a payment's credit in its transaction.
 */
export async function handleStripeEvent(store: Store, s: BillingSettings, event: Stripe.Event, now = Date.now(), watch?: CreditWatch): Promise<WebhookOutcome> {
  const job = jobFor(s, event, now, watch);
  if (!("work" in job)) return job;
  try {
    // Money changes: fsynced on SQLite (after the journaled charges), and every instance re-reads the balance.
    const { problem, ...outcome } = await store.tx(job.work, { durable: job.money, notify: job.money });
    // Logged once the transaction committed (PostgreSQL may run a unit of work more than once).
    if (problem) console.error(`stripe: ${problem}`);
    return outcome;
  } catch (e) {
    // Another delivery of the event (or another process) posted its ledger reference first.
    if (e instanceof DuplicateRef) return { result: "duplicate" };
    throw e;
  }
}

function jobFor(s: BillingSettings, event: Stripe.Event, now: number, watch?: CreditWatch): Job | WebhookOutcome {
  const money = (work: Job["work"]): Job => ({ work, money: true });
  switch (event.type) {
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded": {
      const session = event.data.object;
      const skip = unpaid(session);
      if (skip) return skip;
      const note = watch?.creditNote(session.metadata!.tollgate_account_id!) ?? null;
      return money((q) => onSessionPaid(q, s, event, session, now, note));
    }
    case "checkout.session.expired": {
      const session = event.data.object;
      return { work: (q) => onSessionClosed(q, session, "expired", now), money: false };
    }
    case "checkout.session.async_payment_failed": {
      const session = event.data.object;
      return { work: (q) => onSessionClosed(q, session, "failed", now), money: false };
    }
    case "charge.succeeded":
    case "charge.updated": {
      const charge = event.data.object;
      return { work: (q) => onCharge(q, charge, now), money: false };
    }
    case "charge.refunded": {
      const charge = event.data.object;
      return money((q) => onRefunded(q, event, charge, now));
    }
    case "charge.dispute.created": {
      const dispute = event.data.object;
      return money((q) => onDisputeOpened(q, event, dispute, now));
    }
    case "charge.dispute.closed": {
      const dispute = event.data.object;
      return money((q) => onDisputeClosed(q, event, dispute, now));
    }
    default:
      return { result: "ignored" };
  }
}

/**
 * What a session paid in the gateway's currency: its own amount, or the amount Adaptive Pricing
 * converted from (the customer may have paid in theirs); null when neither is in that currency.
 */
function paidInOwnCurrency(session: Stripe.Checkout.Session, own: string): { amountMinor: number; currency: string } | null {
  if (session.currency?.toLowerCase() === own.toLowerCase()) return { amountMinor: session.amount_total!, currency: own.toLowerCase() };
  const conv = session.currency_conversion;
  if (conv?.source_currency?.toLowerCase() === own.toLowerCase() && conv.amount_total != null) return { amountMinor: conv.amount_total, currency: own.toLowerCase() };
  return null;
}

/** Why a session cannot be credited yet (or ever), or null when it is paid. */
function unpaid(session: Stripe.Checkout.Session): WebhookOutcome | null {
  // Sessions created by something else on the same Stripe account are none of our business.
  if (!session.metadata?.tollgate_account_id || session.mode !== "payment") return { result: "ignored" };
  if (session.payment_status !== "paid") return { result: "awaiting_payment" };
  if (session.amount_total == null || !session.currency) return { result: "ignored" };
  return null;
}

function* onSessionPaid(q: Q, s: BillingSettings, event: Stripe.Event, session: Stripe.Checkout.Session, now: number, note: CreditNote | null): Work<Outcome> {
  const accountId = session.metadata!.tollgate_account_id!;
  const paymentId = session.metadata?.tollgate_payment_id;
  const intent = idOf(session.payment_intent);
  const p = q.t.payments;
  let row = yield* get(q.db.select().from(p).where(eq(p.stripeSessionId, session.id)));
  if (!row && paymentId) row = yield* get(q.db.select().from(p).where(eq(p.id, paymentId)));
  if (row && row.accountId !== accountId) {
    return { result: "ignored", problem: `session ${session.id} names account ${accountId} but payment ${row.id} belongs to ${row.accountId}` };
  }
  if (row?.ledgerId != null) return { result: "duplicate", accountId, paymentId: row.id };
  if (!(yield* get(q.db.select({ id: q.t.accounts.id }).from(q.t.accounts).where(eq(q.t.accounts.id, accountId))))) {
    return { result: "ignored", problem: `session ${session.id} is for unknown account ${accountId}` };
  }
  // credit_per_unit prices the gateway's own currency only: another is never multiplied by it.
  const own = paidInOwnCurrency(session, s.currency) ?? (row ? { amountMinor: row.amountMinor, currency: row.currency } : null);
  if (!own) {
    return { result: "ignored", problem: `session ${session.id} was paid in ${session.currency}, not ${s.currency}: nothing credited; credit it by hand` };
  }
  const { amountMinor, currency } = own;
  const credit =
    row && row.amountMinor === amountMinor && row.currency === currency
      ? row.creditMicros
      : creditFor({ exponent: currencyExponent(currency), creditPerUnit: s.creditPerUnit }, amountMinor);
  const entry = yield* applyCredit(
    q,
    { accountId, amountMicros: credit, kind: "payment", ref: session.id, note: `Stripe payment ${intent ?? session.id}`, actor: ACTOR, heldMicros: 0 },
    now,
  );
  const id = row?.id ?? paymentId ?? newId("pay");
  // Charged in the customer's currency (Adaptive Pricing): its refunds and disputes come in it.
  const foreign = session.currency!.toLowerCase() !== currency;
  const paid = {
    status: "paid" as const,
    currency,
    amountMinor,
    chargeCurrency: foreign ? session.currency!.toLowerCase() : null,
    chargeAmountMinor: foreign ? session.amount_total! : null,
    creditMicros: credit,
    stripeSessionId: session.id,
    stripePaymentIntent: intent,
    ledgerId: entry.id,
    paidAt: now,
    updatedAt: now,
  };
  if (row) yield* run(q.db.update(p).set(paid).where(eq(p.id, row.id)));
  else yield* run(q.db.insert(p).values({ id, accountId, createdAt: now, ...paid }));
  if (intent) yield* applyDeferred(q, intent, now);
  // After the refunds kept for it: the alert decides with what the payment leaves available.
  if (note) yield* note(q, entry.id);
  yield* recordAudit(q, {
    actor: ACTOR,
    action: "payment.paid",
    targetType: "payment",
    targetId: id,
    before: row ? { status: row.status } : null,
    after: {
      account_id: accountId,
      status: "paid",
      amount_minor: amountMinor,
      currency,
      credit_micros: credit,
      ledger_id: entry.id,
      stripe_event_id: event.id,
      stripe_session_id: session.id,
      stripe_payment_intent: intent,
    },
  }, now);
  return { result: "credited", accountId, paymentId: id, paymentIntent: intent ?? undefined };
}

function* onSessionClosed(q: Q, session: Stripe.Checkout.Session, status: "expired" | "failed", now: number): Work<Outcome> {
  const p = q.t.payments;
  const paymentId = session.metadata?.tollgate_payment_id;
  const match = paymentId ? or(eq(p.stripeSessionId, session.id), eq(p.id, paymentId)) : eq(p.stripeSessionId, session.id);
  const changed = yield* all(q.db.update(p).set({ status, updatedAt: now }).where(and(match, eq(p.status, "pending"))).returning({ id: p.id }));
  return { result: changed.length ? status : "ignored" };
}

function* onCharge(q: Q, charge: Stripe.Charge, now: number): Work<Outcome> {
  const row = yield* paymentFor(q, idOf(charge.payment_intent), charge.id);
  if (!row || !charge.paid) return { result: "ignored" };
  yield* run(q.db.update(q.t.payments)
    .set({ stripeChargeId: charge.id, receiptUrl: charge.receipt_url ?? row.receiptUrl, updatedAt: now })
    .where(eq(q.t.payments.id, row.id)));
  return { result: "receipt", paymentId: row.id };
}
