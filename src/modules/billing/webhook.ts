import { and, eq, or } from "drizzle-orm";
import type Stripe from "stripe";
import type { SqliteStore } from "../../store/sqlite-store";
import { accounts, ledgerEntries, payments } from "../../store/schema";
import { newId } from "../../lib/ids";
import { audit } from "../audit/service";
import { applyCredit } from "../../money/ledger";
import { creditFor, currencyExponent, proportion, type BillingSettings } from "./amounts";
import { deferEvent, takeDeferred } from "./deferred-events";
import type { PaymentRow, PaymentStatus } from "./service";

export interface WebhookOutcome {
  /** credited, refunded, dispute_lost, duplicate, ignored, ... (returned to Stripe, for its dashboard). */
  result: string;
  /** Account whose balance changed (for the low-balance check). */
  accountId?: string;
  paymentId?: string;
  /** A payment intent whose charge (receipt link) is worth fetching. */
  paymentIntent?: string;
}

const ACTOR = "stripe";
const idOf = (v: string | { id: string } | null | undefined): string | null => (v == null ? null : typeof v === "string" ? v : v.id);

/**
 * Applies one verified Stripe event. Every money change runs in one fsynced transaction with its
 * ledger entry, payment row and audit entry, and is idempotent: the payment row records what was
 * applied and the ledger's unique (account, kind, ref) index stops a second post even from another
 * process, so repeated or concurrent deliveries of an event change the balance once.
 */
export function handleStripeEvent(store: SqliteStore, s: BillingSettings, event: Stripe.Event, now = Date.now()): WebhookOutcome {
  try {
    switch (event.type) {
      case "checkout.session.completed":
      case "checkout.session.async_payment_succeeded":
        return onSessionPaid(store, s, event, event.data.object, now);
      case "checkout.session.expired":
        return onSessionClosed(store, event.data.object, "expired", now);
      case "checkout.session.async_payment_failed":
        return onSessionClosed(store, event.data.object, "failed", now);
      case "charge.succeeded":
      case "charge.updated":
        return onCharge(store, event.data.object, now);
      case "charge.refunded":
        return onRefunded(store, event, event.data.object, now);
      case "charge.dispute.created":
        return onDisputeOpened(store, event, event.data.object, now);
      case "charge.dispute.closed":
        return onDisputeClosed(store, event, event.data.object, now);
      default:
        return { result: "ignored" };
    }
  } catch (e) {
    // The unique ledger ref lost a race with another process that posted the same event first.
    if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") return { result: "duplicate" };
    throw e;
  }
}

function onSessionPaid(store: SqliteStore, s: BillingSettings, event: Stripe.Event, session: Stripe.Checkout.Session, now: number): WebhookOutcome {
  const accountId = session.metadata?.tollgate_account_id;
  const paymentId = session.metadata?.tollgate_payment_id;
  // Sessions created by something else on the same Stripe account are none of our business.
  if (!accountId || session.mode !== "payment") return { result: "ignored" };
  if (session.payment_status !== "paid") return { result: "awaiting_payment" };
  if (session.amount_total == null || !session.currency) return { result: "ignored" };
  const amountMinor = session.amount_total;
  const currency = session.currency;
  const intent = idOf(session.payment_intent);
  return store.durable(() => {
    let row = store.db.select().from(payments).where(eq(payments.stripeSessionId, session.id)).get();
    if (!row && paymentId) row = store.db.select().from(payments).where(eq(payments.id, paymentId)).get();
    if (row && row.accountId !== accountId) {
      console.error(`stripe: session ${session.id} names account ${accountId} but payment ${row.id} belongs to ${row.accountId}`);
      return { result: "ignored" };
    }
    if (row?.ledgerId != null) return { result: "duplicate", accountId, paymentId: row.id };
    if (!store.db.select({ id: accounts.id }).from(accounts).where(eq(accounts.id, accountId)).get()) {
      console.error(`stripe: session ${session.id} is for unknown account ${accountId}`);
      return { result: "ignored" };
    }
    const credit =
      row && row.amountMinor === amountMinor && row.currency === currency
        ? row.creditMicros
        : creditFor({ exponent: currencyExponent(currency), creditPerUnit: s.creditPerUnit }, amountMinor);
    const entry = applyCredit(
      store,
      { accountId, amountMicros: credit, kind: "payment", ref: session.id, note: `Stripe payment ${intent ?? session.id}`, actor: ACTOR, heldMicros: 0 },
      now,
    );
    const id = row?.id ?? paymentId ?? newId("pay");
    const paid = {
      status: "paid" as const,
      currency,
      amountMinor,
      creditMicros: credit,
      stripeSessionId: session.id,
      stripePaymentIntent: intent,
      ledgerId: entry.id,
      paidAt: now,
      updatedAt: now,
    };
    if (row) store.db.update(payments).set(paid).where(eq(payments.id, row.id)).run();
    else store.db.insert(payments).values({ id, accountId, createdAt: now, ...paid }).run();
    if (intent) applyDeferred(store, intent, now);
    audit(store, {
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
  });
}

function onSessionClosed(store: SqliteStore, session: Stripe.Checkout.Session, status: "expired" | "failed", now: number): WebhookOutcome {
  const paymentId = session.metadata?.tollgate_payment_id;
  const match = paymentId ? or(eq(payments.stripeSessionId, session.id), eq(payments.id, paymentId)) : eq(payments.stripeSessionId, session.id);
  const changed = store.write(() =>
    store.db.update(payments).set({ status, updatedAt: now }).where(and(match, eq(payments.status, "pending"))).returning({ id: payments.id }).all().length,
  );
  return { result: changed ? status : "ignored" };
}

/** The payment a charge, refund or dispute belongs to (by payment intent, else by charge id). */
function paymentFor(store: SqliteStore, intent: string | null, chargeId: string | null): PaymentRow | undefined {
  if (intent) {
    const row = store.db.select().from(payments).where(eq(payments.stripePaymentIntent, intent)).get();
    if (row) return row;
  }
  if (chargeId) return store.db.select().from(payments).where(eq(payments.stripeChargeId, chargeId)).get();
  return undefined;
}

function onCharge(store: SqliteStore, charge: Stripe.Charge, now: number): WebhookOutcome {
  const row = paymentFor(store, idOf(charge.payment_intent), charge.id);
  if (!row || !charge.paid) return { result: "ignored" };
  store.write(() =>
    store.db
      .update(payments)
      .set({ stripeChargeId: charge.id, receiptUrl: charge.receipt_url ?? row.receiptUrl, updatedAt: now })
      .where(eq(payments.id, row.id))
      .run(),
  );
  return { result: "receipt", paymentId: row.id };
}

function onRefunded(store: SqliteStore, event: Stripe.Event, charge: Stripe.Charge, now: number): WebhookOutcome {
  const intent = idOf(charge.payment_intent);
  return store.durable(() => {
    const row = paymentFor(store, intent, charge.id);
    if (!row || row.ledgerId == null) return defer(store, event, intent, charge.id, charge, now);
    // amount_refunded is cumulative: only what exceeds the refunds already applied is new.
    if (charge.amount_refunded <= row.refundedMinor) return { result: "duplicate", accountId: row.accountId, paymentId: row.id };
    const refundIds = charge.refunds?.data?.map((r) => r.id) ?? [];
    const target = proportion(row.creditMicros, Math.min(charge.amount_refunded, row.amountMinor), row.amountMinor);
    const applied = proportion(row.creditMicros, row.refundedMinor, row.amountMinor);
    const debit = Math.max(0, Math.min(target - applied, row.creditMicros - row.debitedMicros));
    // Newest refund first in Stripe lists; without expanded refunds the cumulative total names it.
    const ref = refundIds[0] ?? `${charge.id}:refunded:${charge.amount_refunded}`;
    const entry = debit > 0 ? debitPayment(store, row, debit, ref, `Stripe refund ${ref} of ${intent ?? charge.id}`, now) : null;
    const status: PaymentStatus = charge.amount_refunded >= row.amountMinor ? "refunded" : "partially_refunded";
    store.db.update(payments)
      .set({
        status: row.status === "dispute_lost" ? row.status : status,
        refundedMinor: charge.amount_refunded,
        debitedMicros: row.debitedMicros + debit,
        stripeChargeId: charge.id,
        receiptUrl: charge.receipt_url ?? row.receiptUrl,
        updatedAt: now,
      })
      .where(eq(payments.id, row.id))
      .run();
    audit(store, {
      actor: ACTOR,
      action: "payment.refunded",
      targetType: "payment",
      targetId: row.id,
      before: { status: row.status, refunded_minor: row.refundedMinor, debited_micros: row.debitedMicros },
      after: {
        account_id: row.accountId,
        status,
        refunded_minor: charge.amount_refunded,
        debited_micros: row.debitedMicros + debit,
        ledger_id: entry?.id ?? null,
        stripe_event_id: event.id,
        stripe_charge_id: charge.id,
        stripe_payment_intent: intent,
        stripe_refund_ids: refundIds,
      },
    }, now);
    return { result: "refunded", accountId: row.accountId, paymentId: row.id };
  });
}

function onDisputeOpened(store: SqliteStore, event: Stripe.Event, dispute: Stripe.Dispute, now: number): WebhookOutcome {
  return store.durable(() => {
    const row = paymentFor(store, idOf(dispute.payment_intent), idOf(dispute.charge));
    if (!row || row.ledgerId == null) return defer(store, event, idOf(dispute.payment_intent), idOf(dispute.charge), dispute, now);
    if (row.status === "disputed" || row.status === "dispute_lost") return { result: "ignored" };
    store.db.update(payments).set({ status: "disputed", updatedAt: now }).where(eq(payments.id, row.id)).run();
    audit(store, {
      actor: ACTOR,
      action: "payment.disputed",
      targetType: "payment",
      targetId: row.id,
      before: { status: row.status },
      after: { status: "disputed", stripe_event_id: event.id, stripe_dispute_id: dispute.id, amount_minor: dispute.amount, reason: dispute.reason },
    }, now);
    return { result: "disputed", paymentId: row.id };
  });
}

function onDisputeClosed(store: SqliteStore, event: Stripe.Event, dispute: Stripe.Dispute, now: number): WebhookOutcome {
  return store.durable(() => {
    const row = paymentFor(store, idOf(dispute.payment_intent), idOf(dispute.charge));
    if (!row || row.ledgerId == null) return defer(store, event, idOf(dispute.payment_intent), idOf(dispute.charge), dispute, now);
    if (row.status === "dispute_lost") return { result: "duplicate", accountId: row.accountId, paymentId: row.id };
    const lost = dispute.status === "lost";
    const settled: PaymentStatus = row.refundedMinor === 0 ? "paid" : row.refundedMinor >= row.amountMinor ? "refunded" : "partially_refunded";
    let debit = 0;
    let ledgerId: number | null = null;
    if (lost) {
      const prior = store.db
        .select({ id: ledgerEntries.id })
        .from(ledgerEntries)
        .where(and(eq(ledgerEntries.accountId, row.accountId), eq(ledgerEntries.kind, "refund"), eq(ledgerEntries.ref, dispute.id)))
        .get();
      if (prior) return { result: "duplicate", accountId: row.accountId, paymentId: row.id };
      debit = Math.max(0, Math.min(proportion(row.creditMicros, dispute.amount, row.amountMinor), row.creditMicros - row.debitedMicros));
      if (debit > 0) ledgerId = debitPayment(store, row, debit, dispute.id, `Stripe dispute ${dispute.id} lost (${dispute.reason})`, now).id;
    }
    const status: PaymentStatus = lost ? "dispute_lost" : settled;
    store.db.update(payments).set({ status, debitedMicros: row.debitedMicros + debit, updatedAt: now }).where(eq(payments.id, row.id)).run();
    audit(store, {
      actor: ACTOR,
      action: lost ? "payment.dispute_lost" : "payment.dispute_closed",
      targetType: "payment",
      targetId: row.id,
      before: { status: row.status, debited_micros: row.debitedMicros },
      after: {
        account_id: row.accountId,
        status,
        debited_micros: row.debitedMicros + debit,
        ledger_id: ledgerId,
        stripe_event_id: event.id,
        stripe_dispute_id: dispute.id,
        dispute_status: dispute.status,
      },
    }, now);
    return { result: lost ? "dispute_lost" : "dispute_closed", accountId: row.accountId, paymentId: row.id };
  });
}

/** A refund or dispute of a payment not credited yet is kept (deferred-events.ts) rather than dropped. */
function defer(store: SqliteStore, event: Stripe.Event, intent: string | null, chargeId: string | null, object: object, now: number): WebhookOutcome {
  if (!intent) return { result: "ignored" };
  deferEvent(store, event, intent, chargeId, object, now);
  return { result: "deferred" };
}

/** Applies, in arrival order, the kept events of a payment intent just credited (same transaction). */
function applyDeferred(store: SqliteStore, intent: string, now: number): void {
  for (const { event, object } of takeDeferred(store, intent)) {
    if (event.type === "charge.refunded") onRefunded(store, event, object as Stripe.Charge, now);
    else if (event.type === "charge.dispute.created") onDisputeOpened(store, event, object as Stripe.Dispute, now);
    else if (event.type === "charge.dispute.closed") onDisputeClosed(store, event, object as Stripe.Dispute, now);
  }
}

/** Takes credits back in full, even below held credit (reserve() then refuses new spending). */
function debitPayment(store: SqliteStore, row: PaymentRow, micros: number, ref: string, note: string, now: number) {
  return applyCredit(
    store,
    { accountId: row.accountId, amountMicros: -micros, kind: "refund", ref, note, actor: ACTOR, heldMicros: 0, allowNegative: true },
    now,
  );
}
