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

const ROTATED = "key-rotated ";

/**
 * A key rotated on one instance: every instance gives back what it leases of the old key's cap
 * and budget beyond its requests' holds (LeaseBook.retired), since those leases count against the
 * line's newest key and no new hold is taken there. Returns what does so here and tells the others.
 */
export function keyRotations(store: PgStore, book: () => LeaseBook, instanceId: string): (oldKeyId: string) => void {
  store.onSignal((payload) => {
    if (!payload.startsWith(ROTATED)) return;
    let said: unknown;
    try {
      said = JSON.parse(payload.slice(ROTATED.length));
    } catch {
      return;
    }
    if (Array.isArray(said) && typeof said[0] === "string" && said[1] !== instanceId) book().retired(said[0]);
  });
  return (oldKeyId) => {
    book().retired(oldKeyId);
    // Not awaited: a lost signal leaves the old key's unused leases until their idle give-back.
    void store.signal(ROTATED + JSON.stringify([oldKeyId, instanceId])).catch(() => undefined);
  };
}
