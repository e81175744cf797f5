import { and, eq, inArray } from "drizzle-orm";
import type Stripe from "stripe";
import { all, get, run, type Q, type Work } from "../../store/work";
import { recordAudit } from "../audit/service";
import { applyCredit } from "../../money/ledger";
import { proportion } from "./amounts";
import { deferEvent, takeDeferred } from "./deferred-events";
import type { PaymentRow, PaymentStatus } from "./service";

/* Stripe's refunds and disputes of a credited payment (webhook.ts receives them), as units of work. */

export interface WebhookOutcome {
  /** credited, refunded, dispute_lost, duplicate, ignored, ... (returned to Stripe, for its dashboard). */
  result: string;
  /** Account whose balance changed (for the low-balance check). */
  accountId?: string;
  paymentId?: string;
  /** A payment intent whose charge (receipt link) is worth fetching. */
  paymentIntent?: string;
}

/** An outcome and what is worth logging once the transaction has committed. */
export type Outcome = WebhookOutcome & { problem?: string };

export const ACTOR = "stripe";
export const idOf = (v: string | { id: string } | null | undefined): string | null => (v == null ? null : typeof v === "string" ? v : v.id);

/** The payment a charge, refund or dispute belongs to (by payment intent, else by charge id). */
export function* paymentFor(q: Q, intent: string | null, chargeId: string | null): Work<PaymentRow | undefined> {
  const p = q.t.payments;
  if (intent) {
    const row = yield* get(q.db.select().from(p).where(eq(p.stripePaymentIntent, intent)));
    if (row) return row;
  }
  if (chargeId) return yield* get(q.db.select().from(p).where(eq(p.stripeChargeId, chargeId)));
  return undefined;
}

/** What the card was charged, in its currency's minor unit (refunds and disputes come in it). */
const chargedMinor = (row: PaymentRow): number => row.chargeAmountMinor ?? row.amountMinor;

/**
 * An amount of the charge (refunded, disputed) as a share of the whole charge in the same
 * currency: the card may have been charged in the customer's (Adaptive Pricing). `whole`: the
 * charge's amount when the event says it; null when it is unknown (an older payment charged in
 * another currency, before its amount was kept). An event naming no currency is the charge's.
 */
export function chargeShare(row: PaymentRow, amount: number, currency: string | null | undefined, whole: number | null): { part: number; whole: number } | null {
  const chargeCurrency = row.chargeCurrency ?? row.currency;
  const c = currency?.toLowerCase() ?? chargeCurrency;
  const total = whole ?? (c === chargeCurrency ? chargedMinor(row) : c === row.currency ? row.amountMinor : null);
  return total && total > 0 ? { part: Math.min(Math.max(amount, 0), total), whole: total } : null;
}

export function* onRefunded(q: Q, event: Stripe.Event, charge: Stripe.Charge, now: number): Work<Outcome> {
  const intent = idOf(charge.payment_intent);
  const row = yield* paymentFor(q, intent, charge.id);
  if (!row || row.ledgerId == null) return yield* defer(q, event, intent, charge.id, charge, now);
  // In the charge's own units, as refunded_minor is kept: the share of the credit is taken exactly.
  const share = chargeShare(row, charge.amount_refunded, charge.currency, charge.amount || null) ?? { part: Math.min(charge.amount_refunded, row.amountMinor), whole: row.amountMinor };
  const refunded = share.part;
  // amount_refunded is cumulative: only what exceeds the refunds already applied is new.
  if (refunded <= row.refundedMinor) return { result: "duplicate", accountId: row.accountId, paymentId: row.id };
  const refundIds = charge.refunds?.data?.map((r) => r.id) ?? [];
  const target = proportion(row.creditMicros, refunded, share.whole);
  const applied = proportion(row.creditMicros, row.refundedMinor, share.whole);
  const debit = Math.max(0, Math.min(target - applied, row.creditMicros - row.debitedMicros));
  // Newest refund first in Stripe lists; without expanded refunds the cumulative total names it.
  const ref = refundIds[0] ?? `${charge.id}:refunded:${charge.amount_refunded}`;
  const entry = debit > 0 ? yield* debitPayment(q, row, debit, ref, `Stripe refund ${ref} of ${intent ?? charge.id}`, now) : null;
  const status: PaymentStatus = refunded >= share.whole ? "refunded" : "partially_refunded";
  // A payment from before the charged amount was kept learns it from its first refund.
  const foreign = charge.currency && charge.currency.toLowerCase() !== row.currency && row.chargeCurrency === null;
  yield* run(q.db.update(q.t.payments)
    .set({
      status: row.status === "dispute_lost" ? row.status : status,
      refundedMinor: refunded,
      ...(foreign ? { chargeCurrency: charge.currency.toLowerCase(), chargeAmountMinor: share.whole } : {}),
      debitedMicros: row.debitedMicros + debit,
      stripeChargeId: charge.id,
      receiptUrl: charge.receipt_url ?? row.receiptUrl,
      updatedAt: now,
    })
    .where(eq(q.t.payments.id, row.id)));
  yield* recordAudit(q, {
    actor: ACTOR,
    action: "payment.refunded",
    targetType: "payment",
    targetId: row.id,
    before: { status: row.status, refunded_minor: row.refundedMinor, debited_micros: row.debitedMicros },
    after: {
      account_id: row.accountId,
      status,
      refunded_minor: refunded,
      charge_refunded_minor: charge.amount_refunded,
      charge_currency: charge.currency,
      debited_micros: row.debitedMicros + debit,
      ledger_id: entry?.id ?? null,
      stripe_event_id: event.id,
      stripe_charge_id: charge.id,
      stripe_payment_intent: intent,
      stripe_refund_ids: refundIds,
    },
  }, now);
  return { result: "refunded", accountId: row.accountId, paymentId: row.id };
}

export function* onDisputeOpened(q: Q, event: Stripe.Event, dispute: Stripe.Dispute, now: number): Work<Outcome> {
  const row = yield* paymentFor(q, idOf(dispute.payment_intent), idOf(dispute.charge));
  if (!row || row.ledgerId == null) return yield* defer(q, event, idOf(dispute.payment_intent), idOf(dispute.charge), dispute, now);
  if (row.status === "disputed" || row.status === "dispute_lost") return { result: "ignored" };
  if (yield* disputeClosed(q, row.id, dispute.id)) return { result: "ignored", paymentId: row.id };
  yield* run(q.db.update(q.t.payments).set({ status: "disputed", updatedAt: now }).where(eq(q.t.payments.id, row.id)));
  yield* recordAudit(q, {
    actor: ACTOR,
    action: "payment.disputed",
    targetType: "payment",
    targetId: row.id,
    before: { status: row.status },
    after: { status: "disputed", stripe_event_id: event.id, stripe_dispute_id: dispute.id, amount_minor: dispute.amount, reason: dispute.reason },
  }, now);
  return { result: "disputed", paymentId: row.id };
}

/**
 * Whether this dispute was closed already: Stripe may deliver its created event after its closed
 * one, which must not reopen it. A won dispute leaves no ledger entry, so its audit entry tells.
 */
function* disputeClosed(q: Q, paymentId: string, disputeId: string): Work<boolean> {
  const l = q.t.auditLog;
  const closed = yield* all(q.db.select({ after: l.after }).from(l).where(and(
    eq(l.targetType, "payment"), eq(l.targetId, paymentId), inArray(l.action, ["payment.dispute_closed", "payment.dispute_lost"]),
  )));
  return closed.some((e) => (e.after as { stripe_dispute_id?: string } | null)?.stripe_dispute_id === disputeId);
}

export function* onDisputeClosed(q: Q, event: Stripe.Event, dispute: Stripe.Dispute, now: number): Work<Outcome> {
  const row = yield* paymentFor(q, idOf(dispute.payment_intent), idOf(dispute.charge));
  if (!row || row.ledgerId == null) return yield* defer(q, event, idOf(dispute.payment_intent), idOf(dispute.charge), dispute, now);
  if (row.status === "dispute_lost") return { result: "duplicate", accountId: row.accountId, paymentId: row.id };
  const lost = dispute.status === "lost";
  const settled: PaymentStatus = row.refundedMinor === 0 ? "paid" : row.refundedMinor >= chargedMinor(row) ? "refunded" : "partially_refunded";
  let debit = 0;
  let ledgerId: number | null = null;
  let problem: string | undefined;
  if (lost) {
    const l = q.t.ledgerEntries;
    const prior = yield* get(q.db.select({ id: l.id }).from(l).where(and(eq(l.accountId, row.accountId), eq(l.kind, "refund"), eq(l.ref, dispute.id))));
    if (prior) return { result: "duplicate", accountId: row.accountId, paymentId: row.id };
    // A charge in another currency whose amount was not recorded (paid before it was): the whole payment, said in the log.
    const share = chargeShare(row, dispute.amount, dispute.currency, null);
    if (!share) problem = `dispute ${dispute.id} is in ${dispute.currency} and payment ${row.id}'s charge amount in it is unknown: taken as the whole payment`;
    const taken = share ? proportion(row.creditMicros, share.part, share.whole) : row.creditMicros;
    debit = Math.max(0, Math.min(taken, row.creditMicros - row.debitedMicros));
    if (debit > 0) ledgerId = (yield* debitPayment(q, row, debit, dispute.id, `Stripe dispute ${dispute.id} lost (${dispute.reason})`, now)).id;
  }
  const status: PaymentStatus = lost ? "dispute_lost" : settled;
  yield* run(q.db.update(q.t.payments).set({ status, debitedMicros: row.debitedMicros + debit, updatedAt: now }).where(eq(q.t.payments.id, row.id)));
  yield* recordAudit(q, {
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
  return { result: lost ? "dispute_lost" : "dispute_closed", accountId: row.accountId, paymentId: row.id, problem };
}

/** A refund or dispute of a payment not credited yet is kept (deferred-events.ts) rather than dropped. */
function* defer(q: Q, event: Stripe.Event, intent: string | null, chargeId: string | null, object: object, now: number): Work<Outcome> {
  if (!intent) return { result: "ignored" };
  yield* deferEvent(q, event, intent, chargeId, object, now);
  return { result: "deferred" };
}

/** Applies, in arrival order, the kept events of a payment intent just credited (same unit of work). */
export function* applyDeferred(q: Q, intent: string, now: number): Work<void> {
  for (const { event, object } of yield* takeDeferred(q, intent)) {
    if (event.type === "charge.refunded") yield* onRefunded(q, event, object as Stripe.Charge, now);
    else if (event.type === "charge.dispute.created") yield* onDisputeOpened(q, event, object as Stripe.Dispute, now);
    else if (event.type === "charge.dispute.closed") yield* onDisputeClosed(q, event, object as Stripe.Dispute, now);
  }
}

/** Takes credits back in full, even below held credit (reserve() then refuses new spending). */
function debitPayment(q: Q, row: PaymentRow, micros: number, ref: string, note: string, now: number) {
  return applyCredit(
    q,
    { accountId: row.accountId, amountMicros: -micros, kind: "refund", ref, note, actor: ACTOR, heldMicros: 0, allowNegative: true },
    now,
  );
}
