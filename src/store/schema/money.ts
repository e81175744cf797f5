import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { accounts } from "./accounts";

/**
 * The ledger and what reserves or credits money: holds, idempotency keys, budget spend, codes.
 * Times are integer milliseconds since the epoch; money is integer micro-credits.
 */
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
