import { and, desc, eq, lt, lte, or } from "drizzle-orm";
import type Stripe from "stripe";
import type { Store } from "../../store/store";
import type { payments } from "../../store/schema";
import { all, get, run } from "../../store/work";
import { cursorOf, parseCursor, readCursor, type Cursor } from "../../lib/cursor";
import { errors } from "../../lib/errors";
import { newId } from "../../lib/ids";
import { MAX_BALANCE_MICROS, microsToUsd, usdToMicros } from "../../money/units";
import { balanceLimit } from "../../money/ledger";
import { getAccountRow } from "../accounts/service";
import { bytewise } from "../usage/query";
import { creditFor, currencyExponent, formatMinor, scaledToMinor, withDecimalPoint, type BillingSettings } from "./amounts";
import type { BillingInfoT, PaymentListT, PaymentViewT } from "./model";
import { checkOpenCheckouts, CHECKOUT_LIFETIME_MS } from "./pending";

export type PaymentRow = typeof payments.$inferSelect;
export type PaymentStatus = PaymentRow["status"];

export function billingInfo(s: BillingSettings): BillingInfoT {
  const fmt = (minor: number) => formatMinor(minor, s.exponent);
  return {
    object: "billing",
    enabled: s.enabled,
    currency: s.currency,
    presets: s.enabled
      ? s.presetsMinor.map((m) => ({ amount: fmt(m), amount_minor: m, credit_micros: creditFor(s, m), credit_usd: microsToUsd(creditFor(s, m)) }))
      : [],
    min_amount: fmt(s.minMinor),
    max_amount: fmt(s.maxMinor),
    credit_per_unit: microsToUsd(s.creditPerUnit),
  };
}

/**
 * A customer's amount ("25", "12.50", 25; typed in the portal also "1,000.50" or "12,50") in minor
 * units, checked against presets and bounds.
 */
export function parseAmount(s: BillingSettings, amount: number | string): number {
  const text = typeof amount === "number" ? String(amount) : withDecimalPoint(amount.trim(), s.exponent);
  if (text === null) {
    throw errors.badRequest("amount is unclear: use a comma only between thousands (1,000.50), or write it with a decimal point (12.50).", "amount", "invalid_amount");
  }
  let scaled: number;
  try {
    scaled = usdToMicros(text);
  } catch {
    throw errors.badRequest("amount must be a decimal amount such as 25 or 12.50.", "amount", "invalid_amount");
  }
  const minor = scaledToMinor(scaled, s.exponent);
  if (minor === null) {
    throw errors.badRequest(`amount has more decimals than ${s.currency.toUpperCase()} allows.`, "amount", "invalid_amount");
  }
  if (!s.presetsMinor.includes(minor) && (minor < s.minMinor || minor > s.maxMinor)) {
    const fmt = (m: number) => formatMinor(m, s.exponent);
    throw errors.badRequest(
      `amount must be between ${fmt(s.minMinor)} and ${fmt(s.maxMinor)} ${s.currency.toUpperCase()}.`,
      "amount",
      "amount_out_of_range",
    );
  }
  return minor;
}

export interface CheckoutInput {
  accountId: string;
  amountMinor: number;
  successUrl: string;
  cancelUrl: string;
}

/**
 * Records a pending payment, then opens a Stripe Checkout Session for it (network call outside
 * any transaction; the payment id is the Idempotency-Key and rides in the session's metadata so
 * the webhook can find the account even if this process dies before saving the session id).
 * Refused with a 429 while the account has MAX_OPEN_CHECKOUTS open (pending.ts).
 */
export async function createCheckout(store: Store, stripe: Stripe, s: BillingSettings, input: CheckoutInput, now = Date.now()): Promise<PaymentRow & { url: string }> {
  const account = await getAccountRow(store, input.accountId);
  if (account.status !== "active") throw errors.badRequest("This account is suspended.", null, "account_suspended");
  // Refused before anything is recorded or Stripe is called: the webhook could not credit it.
  const after = account.balanceMicros + creditFor(s, input.amountMinor);
  if (after > MAX_BALANCE_MICROS) throw balanceLimit(after, "amount");
  const row: PaymentRow = {
    id: newId("pay"),
    accountId: account.id,
    status: "pending",
    currency: s.currency,
    amountMinor: input.amountMinor,
    creditMicros: creditFor(s, input.amountMinor),
    refundedMinor: 0,
    chargeCurrency: null,
    chargeAmountMinor: null,
    debitedMicros: 0,
    stripeSessionId: null,
    stripePaymentIntent: null,
    stripeChargeId: null,
    checkoutUrl: null,
    receiptUrl: null,
    ledgerId: null,
    createdAt: now,
    paidAt: null,
    updatedAt: now,
  };
  await store.tx(function* (q) {
    yield* checkOpenCheckouts(q, account.id, now);
    yield* run(q.db.insert(q.t.payments).values(row));
  });
  const metadata = { tollgate_payment_id: row.id, tollgate_account_id: account.id };
  let session: Stripe.Checkout.Session;
  try {
    session = await stripe.checkout.sessions.create(
      {
        mode: "payment",
        line_items: [
          {
            quantity: 1,
            price_data: {
              currency: s.currency,
              unit_amount: input.amountMinor,
              product_data: { name: `API credits (${microsToUsd(row.creditMicros)} USD)` },
            },
          },
        ],
        client_reference_id: account.id,
        metadata,
        payment_intent_data: { metadata },
        ...(account.email ? { customer_email: account.email } : {}),
        success_url: input.successUrl,
        cancel_url: input.cancelUrl,
        expires_at: Math.floor((now + CHECKOUT_LIFETIME_MS) / 1000),
      },
      { idempotencyKey: row.id },
    );
  } catch (e) {
    await store.tx((q) => run(q.db.update(q.t.payments).set({ status: "failed", updatedAt: Date.now() }).where(eq(q.t.payments.id, row.id))));
    console.error(`stripe: creating the checkout session for ${row.id} failed:`, (e as Error).message);
    throw errors.upstream(502, "The payment provider could not start the checkout. Try again in a moment.", "payment_provider_error");
  }
  if (!session.url) throw errors.upstream(502, "The payment provider returned no checkout page.", "payment_provider_error");
  const url = session.url;
  const saved = await store.tx((q) =>
    get(q.db.update(q.t.payments).set({ stripeSessionId: session.id, checkoutUrl: url, updatedAt: now }).where(eq(q.t.payments.id, row.id)).returning()),
  );
  return { ...saved!, url };
}

export async function getPayment(store: Store, id: string, accountId?: string): Promise<PaymentRow> {
  const row = await store.read((q) => get(q.db.select().from(q.t.payments).where(eq(q.t.payments.id, id))));
  // Another account's payment is reported exactly like a missing one.
  if (!row || (accountId && row.accountId !== accountId)) throw errors.notFound(`Payment ${id}`, "id");
  return row;
}

/** Where a page of payments starts (src/lib/cursor.ts); a bare time, the older form, lists the payments before it. */
export type PaymentCursor = Cursor;
const PAYMENT_CURSOR = { bareTime: true };

export interface PaymentFilter {
  limit: number;
  before?: PaymentCursor;
  accountId?: string;
  status?: PaymentStatus;
}

/** The cursor of the page after `r`: "<created_at in ms>:<id>", the form GET /v1/usage's `next_cursor` has. */
export const paymentCursor = (r: PaymentRow): string => cursorOf(r);

/** A `before` as sent: a cursor, or a bare Unix time in ms (the older form); null when it is neither. */
export const parsePaymentCursor = (s: string): PaymentCursor | null => parseCursor(s, PAYMENT_CURSOR);

/** Payments newest first, ties broken by id compared byte by byte (the same order on both databases). */
export function listPayments(store: Store, f: PaymentFilter): Promise<PaymentRow[]> {
  return store.read((q) => {
    const p = q.t.payments;
    const id = bytewise(q, p.id);
    const c = f.before;
    // The bare `created_at <= ?` lets the (account, created_at) index start at the cursor.
    const after = !c ? undefined : c.id === undefined ? lt(p.createdAt, c.at) : and(lte(p.createdAt, c.at), or(lt(p.createdAt, c.at), lt(id, c.id)));
    const where = and(f.accountId ? eq(p.accountId, f.accountId) : undefined, f.status ? eq(p.status, f.status) : undefined, after);
    return all(q.db.select().from(p).where(where).orderBy(desc(p.createdAt), desc(id)).limit(f.limit));
  });
}

/** One page of the payments API: `limit` rows and the cursor of the next page (null on the last). */
export async function paymentsPage(store: Store, f: Omit<PaymentFilter, "before"> & { before?: string }): Promise<PaymentListT> {
  const before = readCursor(f.before, PAYMENT_CURSOR);
  const rows = await listPayments(store, { ...f, before, limit: f.limit + 1 });
  const last = rows.length > f.limit ? rows[f.limit - 1]! : null;
  return { object: "list", data: rows.slice(0, f.limit).map(paymentView), has_more: last !== null, next_cursor: last && paymentCursor(last) };
}

export function paymentView(r: PaymentRow): PaymentViewT {
  const exponent = currencyExponent(r.currency);
  return {
    id: r.id,
    object: "payment",
    account_id: r.accountId,
    status: r.status,
    currency: r.currency,
    amount: formatMinor(r.amountMinor, exponent),
    amount_minor: r.amountMinor,
    credit_micros: r.creditMicros,
    refunded_minor: r.refundedMinor,
    debited_micros: r.debitedMicros,
    stripe_session_id: r.stripeSessionId,
    stripe_payment_intent: r.stripePaymentIntent,
    receipt_url: r.receiptUrl,
    created_at: Math.floor(r.createdAt / 1000),
    paid_at: r.paidAt === null ? null : Math.floor(r.paidAt / 1000),
  };
}
