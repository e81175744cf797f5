import { asc, eq, lt, sql } from "drizzle-orm";
import type Stripe from "stripe";
import type { SqliteStore } from "../../store/sqlite-store";
import { stripeDeferredEvents } from "../../store/schema";

/** Events about payments nobody credited are forgotten after this long (they may belong to another product on the Stripe account). */
const DEFERRED_TTL_MS = 90 * 86_400_000;

/**
 * Keeps a refund or dispute of a payment that is not credited yet, by its payment intent: Stripe
 * does not promise to deliver events in order, and dropping it would let the payment be credited
 * and never reversed. Run inside the caller's transaction; idempotent per event id.
 */
export function deferEvent(store: SqliteStore, event: Stripe.Event, intent: string, chargeId: string | null, object: object, now: number): void {
  store.db.delete(stripeDeferredEvents).where(lt(stripeDeferredEvents.createdAt, now - DEFERRED_TTL_MS)).run();
  store.db.insert(stripeDeferredEvents)
    .values({ eventId: event.id, type: event.type, paymentIntent: intent, chargeId, object: JSON.stringify(object), createdAt: now })
    .onConflictDoNothing()
    .run();
}

/** Removes and returns, in arrival order, the kept events of a payment intent (inside the caller's transaction). */
export function takeDeferred(store: SqliteStore, intent: string): { event: Stripe.Event; object: unknown }[] {
  const rows = store.db.select().from(stripeDeferredEvents).where(eq(stripeDeferredEvents.paymentIntent, intent))
    .orderBy(asc(stripeDeferredEvents.createdAt), asc(sql`rowid`)).all();
  store.db.delete(stripeDeferredEvents).where(eq(stripeDeferredEvents.paymentIntent, intent)).run();
  return rows.map((r) => ({ event: { id: r.eventId, type: r.type } as Stripe.Event, object: JSON.parse(r.object) as unknown }));
}
