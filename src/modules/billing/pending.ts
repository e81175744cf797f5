import { and, asc, eq, gt } from "drizzle-orm";
import { ApiError } from "../../lib/errors";
import { all } from "../../store/work";
import type { Q, Work } from "../../store/work";

/**
 * How long a Checkout Session the gateway opens stays payable (Stripe's `expires_at`; it allows
 * 30 minutes to 24 hours). An abandoned checkout stops counting against the account's open
 * checkouts after this, so the cap below never locks a customer out for long.
 */
export const CHECKOUT_LIFETIME_MS = 60 * 60_000;

/**
 * Checkouts an account may have open at once (pending, opened within CHECKOUT_LIFETIME_MS). Each
 * is a Stripe call with the operator's one key, whose rate limit every customer shares, and a
 * payment row; a person paying needs one or two.
 */
export const MAX_OPEN_CHECKOUTS = 10;

/**
 * Throws the 429 when the account already has MAX_OPEN_CHECKOUTS open checkouts; run in the
 * transaction that records the new one, so that concurrent checkouts cannot all pass.
 */
export function* checkOpenCheckouts(q: Q, accountId: string, now: number): Work<void> {
  const p = q.t.payments;
  const open = yield* all(
    q.db
      .select({ createdAt: p.createdAt })
      .from(p)
      .where(and(eq(p.accountId, accountId), eq(p.status, "pending"), gt(p.createdAt, now - CHECKOUT_LIFETIME_MS)))
      .orderBy(asc(p.createdAt))
      .limit(MAX_OPEN_CHECKOUTS),
  );
  if (open.length < MAX_OPEN_CHECKOUTS) return;
  throw tooManyOpenCheckouts(open[0]!.createdAt + CHECKOUT_LIFETIME_MS - now);
}

/**
 * 429, not 409: a cap on what the account has under way, which frees itself (a checkout is paid
 * or expires), like the other per-account caps; `retry-after` says when the oldest one stops
 * counting, and `x-should-retry: false` keeps the SDKs from waiting that long on their own.
 */
export function tooManyOpenCheckouts(waitMs: number): ApiError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  const minutes = Math.ceil(seconds / 60);
  return new ApiError(
    429,
    `This account has ${MAX_OPEN_CHECKOUTS} checkouts open that are not paid yet: pay one of them, or try again in ${minutes} minute(s), when the oldest expires.`,
    "requests",
    "too_many_open_checkouts",
    null,
    { "retry-after": String(seconds), "retry-after-ms": String(seconds * 1000), "x-should-retry": "false" },
  );
}
