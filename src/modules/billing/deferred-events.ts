import { asc, eq, lt, max, sql } from "drizzle-orm";
import type Stripe from "stripe";
import { all, get, run, type Q, type Work } from "../../store/work";

/** Events about payments nobody credited are forgotten after this long (they may belong to another product on the Stripe account). */
const DEFERRED_TTL_MS = 90 * 86_400_000;

/**
 * Keeps a refund or dispute of a payment that is not credited yet, by its payment intent: Stripe
 * does not promise to deliver events in order, and dropping it would let the payment be credited
 * and never reversed. Part of the caller's unit of work; idempotent per event id.
 */
export function* deferEvent(q: Q, event: Stripe.Event, intent: string, chargeId: string | null, object: object, now: number): Work<void> {
  const d = q.t.stripeDeferredEvents;
  yield* run(q.db.delete(d).where(lt(d.createdAt, now - DEFERRED_TTL_MS)));
  // Strictly increasing per intent, so that created_at alone keeps the arrival order (PostgreSQL has no rowid).
  const last = yield* get(q.db.select({ at: max(d.createdAt) }).from(d).where(eq(d.paymentIntent, intent)));
  const createdAt = Math.max(now, (last?.at ?? -1) + 1);
  yield* run(q.db.insert(d)
    .values({ eventId: event.id, type: event.type, paymentIntent: intent, chargeId, object: JSON.stringify(object), createdAt })
    .onConflictDoNothing());
}

/** Removes and returns, in arrival order, the kept events of a payment intent (part of the caller's unit of work). */
export function* takeDeferred(q: Q, intent: string): Work<{ event: Stripe.Event; object: unknown }[]> {
  const d = q.t.stripeDeferredEvents;
  // Rows kept before created_at was made strictly increasing may share a millisecond: SQLite's rowid orders them.
  const tie = q.dialect === "sqlite" ? sql`rowid` : d.eventId;
  const rows = yield* all(q.db.select().from(d).where(eq(d.paymentIntent, intent)).orderBy(asc(d.createdAt), asc(tie)));
  yield* run(q.db.delete(d).where(eq(d.paymentIntent, intent)));
  return rows.map((r) => ({ event: { id: r.eventId, type: r.type } as Stripe.Event, object: JSON.parse(r.object) as unknown }));
}
