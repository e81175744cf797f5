import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { accounts } from "./accounts";

/**
 * Who signs in to the dashboard: members, invites, sessions, sign-ups (and pre-teams logins).
 * Times are integer milliseconds since the epoch; money is integer micro-credits.
 */
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
    /**
     * A console session's admin token, as a fingerprint (a hash of its hash, never the token): the
     * session opens the console only where that token is the current one. Null: a portal session.
     */
    adminFingerprint: text("admin_fingerprint"),
    expiresAt: integer("expires_at").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("web_sessions_account").on(t.accountId), index("web_sessions_expiry").on(t.expiresAt)],
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

/**
 * One-shot secrets a dashboard page shows after a redirect (a new key, an invite link, new
 * codes), kept where every instance reads them: the redirected GET may reach another instance.
 * `sealed` is AES-256-GCM under a key derived from the session cookie, of which the database
 * holds only a hash, so the rows alone reveal nothing. Read once; expired rows are swept.
 */
export const webReveals = sqliteTable(
  "web_reveals",
  {
    /** SHA-256 of the session cookie, the reveal's kind and what it is for, then "." and a suffix that sorts oldest first (several may wait). */
    idHash: text("id_hash").primaryKey(),
    sealed: text("sealed").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("web_reveals_expiry").on(t.expiresAt)],
);
