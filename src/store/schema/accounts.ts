import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Accounts, their API keys and per-key limits, the audit log and settings.
 * Times are integer milliseconds since the epoch; money is integer micro-credits.
 */
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

/** Per-key rate-limit overrides (null = the plan's value); they can only tighten the plan. */
export const keyLimits = sqliteTable("key_limits", {
  keyId: text("key_id").primaryKey().references(() => apiKeys.id),
  rpm: integer("rpm"),
  tpm: integer("tpm"),
  concurrency: integer("concurrency"),
  updatedAt: integer("updated_at").notNull(),
});

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

export const settings = sqliteTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});
