import type { Admission, RateLimiter } from "./limiter";

/** Admits everything, reports no limits (unit tests of other modules that do not care). */
export const unlimited: RateLimiter = {
  admit: (): Admission => ({ headers: {}, settle() {}, release() {}, cancel() {} }),
  headers: () => ({}),
  limits: () => ({
    plan: "unlimited",
    rpm: Number.MAX_SAFE_INTEGER,
    tpm: Number.MAX_SAFE_INTEGER,
    concurrency: Number.MAX_SAFE_INTEGER,
    remaining: { requests: Number.MAX_SAFE_INTEGER, tokens: Number.MAX_SAFE_INTEGER, concurrency: Number.MAX_SAFE_INTEGER },
    reset: { requests: "0s", tokens: "0s" },
  }),
  persist: () => 0,
};
