import type { Admission, RateLimiter } from "./limiter";

/** Admits everything (used until plans are configured by the rate-limit module). */
export const unlimited: RateLimiter = {
  admit: (): Admission => ({ headers: {}, settle() {}, release() {} }),
  headers: () => ({}),
};
