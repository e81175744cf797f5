import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { accounts } from "./accounts";

/**
 * Card payments (Stripe) and low-balance alerts.
 * Times are integer milliseconds since the epoch; money is integer micro-credits.
 */
/**
 * Stripe Checkout top-ups: recorded as pending when the session is created, then paid, refunded or
 * disputed from verified webhooks. Amounts in the currency's minor unit (cents) as Stripe sends them.
 */
export const payments = sqliteTable(
  "payments",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    status: text("status", {
      enum: ["pending", "paid", "expired", "failed", "partially_refunded", "refunded", "disputed", "dispute_lost"],
    }).notNull(),
    currency: text("currency").notNull(),
    amountMinor: integer("amount_minor").notNull(),
    creditMicros: integer("credit_micros").notNull(),
    refundedMinor: integer("refunded_minor").notNull().default(0),
    /**
     * What the card was charged when that was another currency (Adaptive Pricing: the customer
     * paid in theirs): refunds and disputes come in it, and take back their share of the credit.
     */
    chargeCurrency: text("charge_currency"),
    chargeAmountMinor: integer("charge_amount_minor"),
    /** Micro-credits taken back by refunds and lost disputes (never above credit_micros). */
    debitedMicros: integer("debited_micros").notNull().default(0),
    stripeSessionId: text("stripe_session_id"),
    stripePaymentIntent: text("stripe_payment_intent"),
    stripeChargeId: text("stripe_charge_id"),
    checkoutUrl: text("checkout_url"),
    receiptUrl: text("receipt_url"),
    ledgerId: integer("ledger_id"),
    createdAt: integer("created_at").notNull(),
    paidAt: integer("paid_at"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("payments_session").on(t.stripeSessionId).where(sql`stripe_session_id is not null`),
    index("payments_intent").on(t.stripePaymentIntent),
    index("payments_charge").on(t.stripeChargeId),
    index("payments_account").on(t.accountId, t.createdAt),
  ],
);

/**
 * Stripe events about a payment that is not credited yet (a refund reported before the
 * checkout's completion): kept, then applied in the transaction that credits the payment.
 */
export const stripeDeferredEvents = sqliteTable(
  "stripe_deferred_events",
  {
    eventId: text("event_id").primaryKey(),
    type: text("type").notNull(),
    paymentIntent: text("payment_intent"),
    chargeId: text("charge_id"),
    /** The event's `data.object` as Stripe sent it (JSON). */
    object: text("object").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("stripe_deferred_intent").on(t.paymentIntent), index("stripe_deferred_created").on(t.createdAt)],
);

/** Per-account low-balance alert: threshold (null = the configured default) and whether it is armed. */
export const alertSettings = sqliteTable("alert_settings", {
  accountId: text("account_id").primaryKey().references(() => accounts.id),
  thresholdMicros: integer("threshold_micros"),
  armed: integer("armed", { mode: "boolean" }).notNull().default(true),
  /** Highest ledger id when the alert last fired: a later credit that reached the threshold re-arms it. */
  firedLedgerId: integer("fired_ledger_id"),
  lastFiredAt: integer("last_fired_at"),
  updatedAt: integer("updated_at").notNull(),
});

/** Sent (or attempted) alert notifications, with their delivery outcome per channel. */
export const alertEvents = sqliteTable(
  "alert_events",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    kind: text("kind").notNull(),
    availableMicros: integer("available_micros").notNull(),
    thresholdMicros: integer("threshold_micros").notNull(),
    /** "sent", "failed", "pending" or "skipped" (channel not configured). */
    webhookStatus: text("webhook_status").notNull(),
    emailStatus: text("email_status").notNull(),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("alert_events_account").on(t.accountId, t.createdAt)],
);
