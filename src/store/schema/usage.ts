import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * What requests did: the usage log and its daily rollups, stored upstream objects, deferred requests, buckets.
 * Times are integer milliseconds since the epoch; money is integer micro-credits.
 */
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
 * Daily totals kept after raw usage rows pass retention, per day, account, key and model. A null
 * key: rows of no key, and every rollup made before totals were kept per key (that history is the
 * account's, never split by key).
 */
export const usageDaily = sqliteTable(
  "usage_daily",
  {
    day: text("day").notNull(),
    accountId: text("account_id").notNull(),
    keyId: text("key_id"),
    model: text("model").notNull(),
    requests: integer("requests").notNull(),
    promptTokens: integer("prompt_tokens").notNull(),
    cachedTokens: integer("cached_tokens").notNull(),
    completionTokens: integer("completion_tokens").notNull(),
    reasoningTokens: integer("reasoning_tokens").notNull(),
    costMicros: integer("cost_micros").notNull(),
  },
  // Both databases treat nulls as distinct in a unique index: one index for the keyless totals, one for each key's.
  (t) => [
    uniqueIndex("usage_daily_key").on(t.day, t.accountId, t.model).where(sql`key_id is null`),
    uniqueIndex("usage_daily_by_key").on(t.day, t.accountId, t.keyId, t.model).where(sql`key_id is not null`),
  ],
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
    /**
     * An item: the response it was recorded with (its answer, or the response whose listing showed
     * it); the hold counts a response's items together. Null: recorded before this was kept.
     */
    responseId: text("response_id"),
  },
  // created_at: the retention's clean-up finds the oldest rows from it (StoredObjects.prune).
  (t) => [index("upstream_objects_account").on(t.accountId, t.createdAt), index("upstream_objects_created").on(t.createdAt)],
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
    /** The model's prices when it was parked (JSON, money/pricing ModelPrices): what the result is charged at, even once the model is gone (null: parked before they were kept). */
    prices: text("prices"),
    /** The prompt's estimated tokens: a result without usage is charged them and its text's estimate (null: parked before it was kept). */
    promptEstimate: integer("prompt_estimate"),
    /** null while pending; then when it was charged or released. */
    settledAt: integer("settled_at"),
    /** What it was charged (null: released, or pending). */
    chargeMicros: integer("charge_micros"),
    createdAt: integer("created_at").notNull(),
    /** The upstream's answer once fetched (it serves a result once); cleared a day after the settlement. */
    result: text("result"),
    /** Until when one fetch (of any instance) is asking the upstream for it: nobody else asks meanwhile. */
    fetchingUntil: integer("fetching_until"),
    /** The instance whose memory holds its credit (PostgreSQL; null: the only process, or parked before this was kept). */
    parkedBy: text("parked_by"),
  },
  (t) => [
    // With the request id: the poller reads the pending in (created_at, request_id) slices off this index.
    index("deferred_pending").on(t.settledAt, t.createdAt, t.requestId),
    // Only rows still keeping a result: the minute's clean-up (forgetResultsQuery) reads these, not every request ever made.
    index("deferred_results_kept").on(t.settledAt).where(sql`result is not null`),
  ],
);

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
