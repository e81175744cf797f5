/**
 * Token bucket in integer arithmetic. One request or token is UNIT bucket units, so a limit of
 * `perMinute` refills exactly `perMinute` units per millisecond: no floating point, so the bound
 * "admitted <= burst + rate x elapsed" holds exactly, and a level survives a restart bit for bit.
 * Capacity (the burst) equals the per-minute limit.
 */
export const UNIT = 60_000;

export interface Bucket {
  /** Units available; negative when settlement charged more than the admission estimate. */
  level: number;
  /** Clock (ms) the level was last brought up to date. */
  at: number;
  /** The limit the bucket was last used with (to judge fullness when persisting). */
  perMinute: number;
}

export const capacity = (perMinute: number): number => perMinute * UNIT;

export function fullBucket(perMinute: number, now: number): Bucket {
  return { level: capacity(perMinute), at: now, perMinute };
}

/** Brings the bucket up to `now` under `perMinute` (continuous refill, capped at capacity). */
export function refill(b: Bucket, perMinute: number, now: number): Bucket {
  const cap = capacity(perMinute);
  if (now > b.at) {
    const missing = cap - b.level;
    // Compare times rather than multiplying, so that a long idle never overflows.
    b.level = missing <= 0 || now - b.at >= Math.ceil(missing / perMinute) ? cap : b.level + (now - b.at) * perMinute;
    b.at = now;
  }
  if (b.level > cap) b.level = cap;
  b.perMinute = perMinute;
  return b;
}

/** Milliseconds until `cost` units are available (0 = now). */
export function waitMs(b: Bucket, cost: number, perMinute: number): number {
  return b.level >= cost ? 0 : Math.ceil((cost - b.level) / perMinute);
}

/** Milliseconds until the bucket is full again. */
export function resetMs(b: Bucket, perMinute: number): number {
  return waitMs(b, capacity(perMinute), perMinute);
}

/** Whole requests or tokens available now. */
export function remaining(b: Bucket): number {
  return b.level <= 0 ? 0 : Math.floor(b.level / UNIT);
}

/** Whole tokens of an estimate or a usage: anything not a positive number counts as none. */
export function wholeTokens(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.ceil(n) : 0;
}
