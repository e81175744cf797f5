import type { Principal } from "../key-auth";
import type { RateLimiter } from "./limiter";

/**
 * Runs `fn` as one request of the key's and account's rate limits (a request and a concurrency
 * slot, no tokens), with their x-ratelimit-* headers, or throws their 429. For the customer
 * routes that are not metered but cost the operator something a customer could loop: a call with
 * a key every customer shares (the upstream's, Stripe's), or a durable write.
 */
export async function withinLimits<T>(limiter: RateLimiter, p: Principal, set: { headers: Record<string, unknown> }, fn: () => Promise<T>): Promise<T> {
  // A shared limiter (several instances) leases its units first; the embedded one has them here.
  const unpend = await limiter.prepare?.(p, 0);
  unpend?.();
  const admission = limiter.admit(p, 0);
  Object.assign(set.headers, admission.headers);
  try {
    return await fn();
  } finally {
    admission.settle(0);
    admission.release();
  }
}
