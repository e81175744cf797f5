import type { PgStore } from "../../store/pg-store";
import type { LeaseBook } from "./lease-book";

/**
 * Instances asking each other for credit leased and not used. One that finds a scope scarce while
 * others lease more of it than their requests hold signals them (a notification on the change
 * channel naming the scope and the asking instance); each gives back at once what its requests do
 * not need (LeaseBook.wanted) instead of after its idle give-back, and the asking one leases again.
 */
const PREFIX = "lease-wanted ";

/** Hears other instances' asks for `book`'s leases; returns what asks them for a scope of its own. */
export function leaseWants(store: PgStore, book: () => LeaseBook, instanceId: string): (scopeKey: string) => void {
  store.onSignal((payload) => {
    if (!payload.startsWith(PREFIX)) return;
    let ask: unknown;
    try {
      ask = JSON.parse(payload.slice(PREFIX.length));
    } catch {
      return;
    }
    // Its own asks were answered here when sent.
    if (Array.isArray(ask) && typeof ask[0] === "string" && typeof ask[1] === "string" && ask[1] !== instanceId) book().wanted(ask[0], ask[1]);
  });
  // Not awaited: a lost ask costs only the wait (the slice still returns when idle).
  return (scopeKey) => void store.signal(PREFIX + JSON.stringify([scopeKey, instanceId])).catch(() => undefined);
}
