import { and, eq } from "drizzle-orm";
import type { Store } from "../../store/store";
import { get } from "../../store/work";
import type { PaymentRow } from "./service";

/**
 * How often a customer back from Stripe may make the gateway ask Stripe about one payment: a
 * reload within it shows what the gateway knows, so reloading the return page cannot spend the
 * operator's Stripe rate limit, which every customer shares. The webhook credits meanwhile.
 */
export const RETURN_CHECK_INTERVAL_MS = 10_000;

/** The account's payment of a Checkout Session; null for another account's session or one never made here. */
export function ownPaymentBySession(store: Store, accountId: string, sessionId: string): Promise<PaymentRow | null> {
  return store.read(function* (q) {
    const p = q.t.payments;
    return (yield* get(q.db.select().from(p).where(and(eq(p.stripeSessionId, sessionId), eq(p.accountId, accountId))))) ?? null;
  });
}

/**
 * When each payment was last confirmed with Stripe on a customer's return, per process. Only
 * the account's own pending payments get here, so it holds a few ids per account paying within
 * the last interval (entries leave in order: all last the same interval).
 */
export class ReturnChecks {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly intervalMs = RETURN_CHECK_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether Stripe may be asked about the payment now; if so, counts it as asked. */
  take(paymentId: string): boolean {
    const at = this.now();
    for (const [id, t] of this.last) {
      if (at - t < this.intervalMs) break;
      this.last.delete(id);
    }
    if (this.last.has(paymentId)) return false;
    this.last.set(paymentId, at);
    return true;
  }
}
