import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// Times are integer milliseconds since the epoch; money is integer micro-credits.

export const accounts = sqliteTable("accounts", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  email: text("email"),
  plan: text("plan").notNull().default("default"),
  status: text("status", { enum: ["active", "suspended"] }).notNull().default("active"),
  /** Denormalised sum of the account's ledger entries, maintained in the same transaction. */
  balanceMicros: integer("balance_micros").notNull().default(0),
  /** Sum of positive top-ups ever (drives usage tiers). */
  lifetimeTopupMicros: integer("lifetime_topup_micros").notNull().default(0),
  createdAt: integer("created_at").notNull(),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    name: text("name").notNull().default(""),
    /** SHA-256 hex of the full key; the key itself is never stored. */
    hash: text("hash").notNull(),
    prefix: text("prefix").notNull(),
    last4: text("last4").notNull(),
    /** JSON array of model ids, or null for every model. */
    models: text("models", { mode: "json" }).$type<string[] | null>(),
    expiresAt: integer("expires_at"),
    spendCapMicros: integer("spend_cap_micros"),
    spentMicros: integer("spent_micros").notNull().default(0),
    revokedAt: integer("revoked_at"),
    rotatedTo: text("rotated_to"),
    lastUsedAt: integer("last_used_at"),
    createdAt: integer("created_at").notNull(),
    /** The member who created it; null: the account's owner (made by the operator, or before teams). */
    memberId: text("member_id"),
    /** A budget per period (day, week or month in budget_timezone) besides the lifetime cap; null: none. */
    budgetMicros: integer("budget_micros"),
    budgetPeriod: text("budget_period", { enum: ["day", "week", "month"] }),
  },
  (t) => [uniqueIndex("api_keys_hash").on(t.hash), index("api_keys_account").on(t.accountId), index("api_keys_member").on(t.memberId)],
);

export const ledgerEntries = sqliteTable(
  "ledger_entries",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    accountId: text("account_id").notNull().references(() => accounts.id),
    kind: text("kind", { enum: ["topup", "adjustment", "charge", "redeem", "payment", "refund"] }).notNull(),
    amountMicros: integer("amount_micros").notNull(),
    balanceAfterMicros: integer("balance_after_micros").notNull(),
    /** For charges: the request id; unique so a request is charged at most once. */
    requestId: text("request_id"),
    keyId: text("key_id"),
    /** External reference (idempotency key, Stripe id, code id) for non-charge entries. */
    ref: text("ref"),
    note: text("note"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("ledger_account_id").on(t.accountId, t.id),
    uniqueIndex("ledger_request").on(t.requestId).where(sql`request_id is not null`),
    uniqueIndex("ledger_ref").on(t.accountId, t.kind, t.ref).where(sql`ref is not null`),
  ],
);

export const creditHolds = sqliteTable(
  "credit_holds",
  {
    requestId: text("request_id").primaryKey(),
    accountId: text("account_id").notNull(),
    keyId: text("key_id"),
    amountMicros: integer("amount_micros").notNull(),
    expiresAt: integer("expires_at").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("holds_account").on(t.accountId)],
);

export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id").notNull(),
    before: text("before", { mode: "json" }),
    after: text("after", { mode: "json" }),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("audit_target").on(t.targetType, t.targetId)],
);

export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    bodyHash: text("body_hash").notNull(),
    status: integer("status").notNull(),
    response: text("response").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("idempotency_scope_key").on(t.scope, t.key)],
);

export const settings = sqliteTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

export const usageLog = sqliteTable(
  "usage_log",
  {
    requestId: text("request_id").primaryKey(),
    accountId: text("account_id").notNull(),
    keyId: text("key_id"),
    model: text("model").notNull(),
    stream: integer("stream", { mode: "boolean" }).notNull(),
    status: integer("status").notNull(),
    promptTokens: integer("prompt_tokens").notNull().default(0),
    cachedTokens: integer("cached_tokens").notNull().default(0),
    completionTokens: integer("completion_tokens").notNull().default(0),
    reasoningTokens: integer("reasoning_tokens").notNull().default(0),
    costMicros: integer("cost_micros").notNull().default(0),
    estimated: integer("estimated", { mode: "boolean" }).notNull().default(false),
    latencyMs: integer("latency_ms").notNull().default(0),
    ttftMs: integer("ttft_ms"),
    upstreamRequestId: text("upstream_request_id"),
    errorCode: text("error_code"),
    createdAt: integer("created_at").notNull(),
    /** The API the request called: chat.completions, responses, messages, ... */
    endpoint: text("endpoint").notNull().default("chat.completions"),
    /** What served it: `<provider>#<key number>/<upstream model>` (null: no upstream answered). */
    upstream: text("upstream"),
    /** Charged beyond the hold (the upstream reported more than the worst case). */
    overageMicros: integer("overage_micros").notNull().default(0),
    /** What the upstream billed the operator for it, when known. */
    upstreamCostMicros: integer("upstream_cost_micros"),
  },
  (t) => [index("usage_account_time").on(t.accountId, t.createdAt), index("usage_time").on(t.createdAt)],
);

/**
 * Objects a customer created upstream through the shared upstream key (stored responses): the
 * upstream lets anyone holding an id read it, so the gateway records whose each id is, and on
 * which upstream key it lives.
 */
export const upstreamObjects = sqliteTable(
  "upstream_objects",
  {
    id: text("id").primaryKey(),
    kind: text("kind").notNull(),
    accountId: text("account_id").notNull(),
    keyId: text("key_id"),
    /** The upstream key (`<provider>#<n>`) that holds it: reads and continuations go there. */
    target: text("target").notNull(),
    model: text("model").notNull(),
    /** Tokens of the conversation so far (a continuation is billed them again). */
    tokens: integer("tokens").notNull().default(0),
    /** What its creation was charged (shown instead of the upstream's cost when it is read). */
    chargeMicros: integer("charge_micros").notNull().default(0),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("upstream_objects_account").on(t.accountId, t.createdAt)],
);

/**
 * Deferred chat completions: the upstream answers later under its own id; the hold stays until
 * the result is fetched (or the upstream forgets it), and only the creator may fetch it.
 */
export const deferredRequests = sqliteTable(
  "deferred_requests",
  {
    requestId: text("request_id").primaryKey(),
    upstreamId: text("upstream_id").notNull(),
    accountId: text("account_id").notNull(),
    keyId: text("key_id"),
    capKeyId: text("cap_key_id"),
    /** The member whose budget the hold counts against (null: none). */
    memberId: text("member_id"),
    target: text("target").notNull(),
    model: text("model").notNull(),
    holdMicros: integer("hold_micros").notNull(),
    /** null while pending; then when it was charged or released. */
    settledAt: integer("settled_at"),
    /** What it was charged (null: released, or pending). */
    chargeMicros: integer("charge_micros"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("deferred_pending").on(t.settledAt, t.createdAt)],
);

/** Daily totals kept after raw usage rows pass retention. */
export const usageDaily = sqliteTable(
  "usage_daily",
  {
    day: text("day").notNull(),
    accountId: text("account_id").notNull(),
    model: text("model").notNull(),
    requests: integer("requests").notNull(),
    promptTokens: integer("prompt_tokens").notNull(),
    cachedTokens: integer("cached_tokens").notNull(),
    completionTokens: integer("completion_tokens").notNull(),
    reasoningTokens: integer("reasoning_tokens").notNull(),
    costMicros: integer("cost_micros").notNull(),
  },
  (t) => [uniqueIndex("usage_daily_key").on(t.day, t.accountId, t.model)],
);

/**
 * Dashboard sign-in of the time before teams (one login per account). No longer written: at
 * start each login becomes its account's owner member (src/store/backfill.ts).
 */
export const accountLogins = sqliteTable(
  "account_logins",
  {
    accountId: text("account_id").primaryKey().references(() => accounts.id),
    /** Lower-cased; unique across accounts. */
    email: text("email").notNull(),
    passwordHash: text("password_hash").notNull(),
    lastLoginAt: integer("last_login_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("account_logins_email").on(t.email)],
);

/**
 * The people who sign in to an account's portal: one owner (billing, members, all keys), admins
 * (all keys and usage) and members (their own keys and usage). A row without a password is an
 * invite not yet accepted; a removed member's row stays (usage and audit refer to it).
 */
export const accountMembers = sqliteTable(
  "account_members",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    /** Lower-cased; null until known (an owner invited without an address). */
    email: text("email"),
    role: text("role", { enum: ["owner", "admin", "member"] }).notNull(),
    /** argon2id; null until the invite is accepted. */
    passwordHash: text("password_hash"),
    /** A budget per period for everything the member's keys spend; null: none. */
    budgetMicros: integer("budget_micros"),
    budgetPeriod: text("budget_period", { enum: ["day", "week", "month"] }),
    lastLoginAt: integer("last_login_at"),
    removedAt: integer("removed_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("account_members_account").on(t.accountId),
    // One sign-in per address: unique among members who can sign in.
    uniqueIndex("account_members_email").on(t.email).where(sql`password_hash is not null and removed_at is null`),
  ],
);

/** One-time invite links; only the SHA-256 of the token is stored. */
export const invites = sqliteTable(
  "invites",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull().references(() => accounts.id),
    /** The member it signs in (null: an invite of the time before teams, for the owner). */
    memberId: text("member_id"),
    tokenHash: text("token_hash").notNull(),
    email: text("email"),
    expiresAt: integer("expires_at").notNull(),
    usedAt: integer("used_at"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("invites_token").on(t.tokenHash), index("invites_account").on(t.accountId)],
);

/** Browser sessions of the portal (customer) and the console (operator); the cookie is hashed. */
export const webSessions = sqliteTable(
  "web_sessions",
  {
    idHash: text("id_hash").primaryKey(),
    kind: text("kind", { enum: ["customer", "admin"] }).notNull(),
    accountId: text("account_id"),
    /** The signed-in member (null: a session of the time before teams, the owner's). */
    memberId: text("member_id"),
    /** Per-session token that every state-changing form must echo. */
    csrf: text("csrf").notNull(),
    expiresAt: integer("expires_at").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("web_sessions_account").on(t.accountId), index("web_sessions_expiry").on(t.expiresAt)],
);

/** Single-use credit codes, created in batches; only the SHA-256 of the code is stored. */
export const redemptionCodes = sqliteTable(
  "redemption_codes",
  {
    id: text("id").primaryKey(),
    batch: text("batch").notNull(),
    codeHash: text("code_hash").notNull(),
    last4: text("last4").notNull(),
    amountMicros: integer("amount_micros").notNull(),
    note: text("note"),
    expiresAt: integer("expires_at"),
    redeemedBy: text("redeemed_by"),
    redeemedAt: integer("redeemed_at"),
    ledgerId: integer("ledger_id"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("redemption_codes_hash").on(t.codeHash), index("redemption_codes_batch").on(t.batch)],
);

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

/** Open sign-ups waiting for their email address to be confirmed; only the SHA-256 of the link's token is kept. */
export const signupRequests = sqliteTable(
  "signup_requests",
  {
    id: text("id").primaryKey(),
    tokenHash: text("token_hash").notNull(),
    /** Lower-cased. */
    email: text("email").notNull(),
    name: text("name").notNull(),
    passwordHash: text("password_hash").notNull(),
    expiresAt: integer("expires_at").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("signup_requests_token").on(t.tokenHash), index("signup_requests_email").on(t.email), index("signup_requests_expiry").on(t.expiresAt)],
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

/** Per-key rate-limit overrides (null = the plan's value); they can only tighten the plan. */
export const keyLimits = sqliteTable("key_limits", {
  keyId: text("key_id").primaryKey().references(() => apiKeys.id),
  rpm: integer("rpm"),
  tpm: integer("tpm"),
  concurrency: integer("concurrency"),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * Snapshot of the in-memory rate-limit buckets (authoritative in memory, written every few seconds
 * and at shutdown). `level` is in 1/60000 units (one request or token = 60000), so that refill
 * at `per_minute` units per millisecond stays integral. Full buckets are not stored.
 */
export const ratelimitBuckets = sqliteTable("ratelimit_buckets", {
  id: text("id").primaryKey(),
  level: integer("level").notNull(),
  perMinute: integer("per_minute").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * What each budget owner spent per day (midnight in budget_timezone): `key:<id>` for a key's
 * rotation line (its newest key) and `member:<id>` for a member. Written with the charges, in the
 * same transaction; a week or month is the sum of its days. Old days are pruned.
 */
export const budgetSpend = sqliteTable(
  "budget_spend",
  {
    owner: text("owner").notNull(),
    day: integer("day").notNull(),
    spentMicros: integer("spent_micros").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.owner, t.day] }), index("budget_spend_day").on(t.day)],
);
