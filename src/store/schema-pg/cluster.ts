import { bigint, index, pgTable, primaryKey, text } from "drizzle-orm/pg-core";

/**
 * PostgreSQL only (several gateway instances on one database; written by hand, not derived):
 * credit leases, the instances that hold them, and shared rate-limit buckets.
 * Times are integer milliseconds since the epoch; money is integer micro-credits.
 */

/**
 * Credit (or concurrency slots) an instance may hand out without asking the database, per scope
 * (`acc:<account>`, `cap:<key>`, `bud:<owner>:<period start>`, `conc:<key or account>`): a
 * pending transfer that settlements draw down and that expires with an instance that stops renewing it.
 */
export const creditLeases = pgTable(
  "credit_leases",
  {
    scope: text("scope").notNull(),
    instanceId: text("instance_id").notNull(),
    amountMicros: bigint("amount_micros", { mode: "number" }).notNull(),
    /** What the instance's requests in flight held of it at its last renewal (for balance reports). */
    heldMicros: bigint("held_micros", { mode: "number" }).notNull().default(0),
    expiresAt: bigint("expires_at", { mode: "number" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.instanceId] }), index("credit_leases_instance").on(t.instanceId)],
);

/** Gateway instances that are alive (seen within the lease TTL), for /admin/upstreams and leases. */
export const instances = pgTable("instances", {
  id: text("id").primaryKey(),
  host: text("host").notNull(),
  startedAt: bigint("started_at", { mode: "number" }).notNull(),
  seenAt: bigint("seen_at", { mode: "number" }).notNull(),
});

/** Rate-limit buckets shared by every instance (level in the bucket's units), taken in batches. */
export const sharedBuckets = pgTable("ratelimit_shared", {
  id: text("id").primaryKey(),
  level: bigint("level", { mode: "number" }).notNull(),
  perMinute: bigint("per_minute", { mode: "number" }).notNull(),
  updatedAt: bigint("updated_at", { mode: "number" }).notNull(),
});
