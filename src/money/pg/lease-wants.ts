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
  // Its own asks were answered here when sent.
  return fromOthers(store, PREFIX, instanceId, (scopeKey, from) => book().wanted(scopeKey, from));
}

const ROTATED = "key-rotated ";

/**
 * A key rotated on one instance: every instance gives back what it leases of the old key's cap
 * and budget beyond its requests' holds (LeaseBook.retired), since those leases count against the
 * line's newest key and no new hold is taken there. Returns what does so here and tells the others.
 */
export function keyRotations(store: PgStore, book: () => LeaseBook, instanceId: string): (oldKeyId: string) => void {
  const tell = fromOthers(store, ROTATED, instanceId, (oldKeyId) => book().retired(oldKeyId));
  return (oldKeyId) => {
    book().retired(oldKeyId);
    tell(oldKeyId);
  };
}

/**
 * Signals between instances on the change channel (`prefix`, then JSON [name, instance]): `hear`
 * gets the names the others send; returns what sends one. Not awaited: a lost signal costs only
 * a wait (unused leases still go back when idle).
 */
function fromOthers(store: PgStore, prefix: string, instanceId: string, hear: (name: string, from: string) => void): (name: string) => void {
  store.onSignal((payload) => {
    if (!payload.startsWith(prefix)) return;
    let said: unknown;
    try {
      said = JSON.parse(payload.slice(prefix.length));
    } catch {
      return;
    }
    if (Array.isArray(said) && typeof said[0] === "string" && typeof said[1] === "string" && said[1] !== instanceId) hear(said[0], said[1]);
  });
  return (name) => void store.signal(prefix + JSON.stringify([name, instanceId])).catch(() => undefined);
}
