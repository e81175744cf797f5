import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { capacity, fullBucket, refill, remaining, resetMs, UNIT, waitMs, type Bucket } from "../src/gateway/limits/bucket";

/**
 * The token bucket's integer arithmetic (src/gateway/limits/bucket.ts): one request or token is
 * UNIT units, a limit of perMinute refills perMinute units per millisecond, capacity is
 * perMinute requests. Compared with a BigInt reference, so that no rounding can hide.
 */
const bucket = (level: number, at: number, perMinute: number): Bucket => ({ level, at, perMinute });

/** min(cap, level + elapsed × perMinute) in BigInt: what refill must give, exactly. */
function reference(level: number, elapsed: number, perMinute: number): number {
  const cap = BigInt(capacity(perMinute));
  const next = BigInt(level) + BigInt(elapsed) * BigInt(perMinute);
  return Number(next < cap ? next : cap);
}

// Limits up to 100M per minute (capacity 6e12 units), idles up to ~300 years: all within 2^53.
const perMinuteArb = fc.integer({ min: 1, max: 100_000_000 });
const atArb = fc.integer({ min: 0, max: 2_000_000_000_000 });
const elapsedArb = fc.oneof(fc.integer({ min: 0, max: 120_000 }), fc.integer({ min: 0, max: 10_000_000_000_000 }));
/** A level from well below empty (settlement charged more than estimated) to full. */
const levelArb = (perMinute: number) => fc.integer({ min: -capacity(perMinute), max: capacity(perMinute) });

describe("capacity and a full bucket", () => {
  test("the burst is perMinute whole requests", () => {
    expect(UNIT).toBe(60_000);
    expect(capacity(60)).toBe(60 * UNIT);
    expect(capacity(1)).toBe(UNIT);
    expect(fullBucket(60, 1234)).toEqual({ level: 60 * UNIT, at: 1234, perMinute: 60 });
    expect(remaining(fullBucket(60, 0))).toBe(60);
    expect(waitMs(fullBucket(60, 0), 60 * UNIT, 60)).toBe(0);
    expect(resetMs(fullBucket(60, 0), 60)).toBe(0);
  });
});

describe("refill", () => {
  test("adds perMinute units per elapsed ms, caps at capacity and moves `at`", () => {
    const b = bucket(0, 1000, 60);
    expect(refill(b, 60, 1500)).toBe(b); // in place
    expect(b).toEqual({ level: 500 * 60, at: 1500, perMinute: 60 });
    refill(b, 60, 1500 + 59_500);
    expect(b).toEqual({ level: capacity(60), at: 61_000, perMinute: 60 });
    refill(b, 60, 10_000_000_000_000);
    expect(b.level).toBe(capacity(60));
  });

  test("a clock that stands still or goes back changes neither level nor time", () => {
    const b = bucket(123, 5000, 60);
    refill(b, 60, 5000);
    expect(b).toEqual({ level: 123, at: 5000, perMinute: 60 });
    refill(b, 60, 4000);
    expect(b).toEqual({ level: 123, at: 5000, perMinute: 60 });
  });

  test("a lowered limit caps the level at the new capacity at once; the limit is remembered", () => {
    const b = fullBucket(600, 0);
    refill(b, 60, 0);
    expect(b).toEqual({ level: capacity(60), at: 0, perMinute: 60 });
    const c = fullBucket(600, 0);
    refill(c, 60, 10);
    expect(c).toEqual({ level: capacity(60), at: 10, perMinute: 60 });
  });

  test("a negative level (overcharged) refills from below zero", () => {
    const b = bucket(-2 * UNIT, 0, 60);
    refill(b, 60, 1000);
    expect(b.level).toBe(-UNIT);
    expect(remaining(b)).toBe(0);
    refill(b, 60, 3000);
    expect(b.level).toBe(UNIT);
  });

  test("equals min(capacity, level + elapsed × perMinute) exactly, as integers", () => {
    fc.assert(
      fc.property(perMinuteArb, atArb, elapsedArb, fc.integer({ min: 0, max: 1 << 30 }), (perMinute, at, elapsed, seed) => {
        const level = (seed % (2 * capacity(perMinute) + 1)) - capacity(perMinute);
        const b = refill(bucket(level, at, perMinute), perMinute, at + elapsed);
        expect(Number.isSafeInteger(b.level)).toBe(true);
        expect(b.level).toBe(reference(level, elapsed, perMinute));
        expect(b.at).toBe(at + elapsed);
      }),
    );
  });

  test("refilling in steps is refilling at once", () => {
    fc.assert(
      fc.property(
        perMinuteArb.chain((pm) => fc.tuple(fc.constant(pm), levelArb(pm), fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 8 }))),
        ([perMinute, level, steps]) => {
          const stepped = bucket(level, 0, perMinute);
          let t = 0;
          for (const s of steps) refill(stepped, perMinute, (t += s));
          const once = refill(bucket(level, 0, perMinute), perMinute, t);
          expect(stepped).toEqual(once);
        },
      ),
    );
  });
});

describe("waitMs, resetMs and remaining", () => {
  test("waits are rounded up to the whole ms", () => {
    expect(waitMs(bucket(0, 0, 60), UNIT, 60)).toBe(1000);
    expect(waitMs(bucket(1, 0, 60), UNIT, 60)).toBe(1000); // 999.98 ms would be too early
    expect(waitMs(bucket(60, 0, 60), UNIT, 60)).toBe(999);
    expect(waitMs(bucket(UNIT, 0, 60), UNIT, 60)).toBe(0);
    expect(waitMs(bucket(-UNIT, 0, 60), UNIT, 60)).toBe(2000);
    expect(resetMs(bucket(0, 0, 60), 60)).toBe(60_000);
    expect(resetMs(bucket(capacity(60) - 1, 0, 60), 60)).toBe(1);
  });

  test("the wait is exact: the cost is there after waitMs, and not one ms earlier", () => {
    fc.assert(
      fc.property(
        perMinuteArb.chain((pm) => fc.tuple(fc.constant(pm), levelArb(pm), fc.integer({ min: 1, max: capacity(pm) }), atArb)),
        ([perMinute, level, cost, at]) => {
          const w = waitMs(bucket(level, at, perMinute), cost, perMinute);
          expect(Number.isSafeInteger(w)).toBe(true);
          expect(refill(bucket(level, at, perMinute), perMinute, at + w).level).toBeGreaterThanOrEqual(cost);
          if (w > 0) expect(refill(bucket(level, at, perMinute), perMinute, at + w - 1).level).toBeLessThan(cost);
          else expect(level).toBeGreaterThanOrEqual(cost);
        },
      ),
    );
  });

  test("resetMs is the wait for a full bucket", () => {
    fc.assert(
      fc.property(
        perMinuteArb.chain((pm) => fc.tuple(fc.constant(pm), levelArb(pm))),
        ([perMinute, level]) => {
          const b = bucket(level, 0, perMinute);
          const r = resetMs(b, perMinute);
          expect(r).toBe(waitMs(b, capacity(perMinute), perMinute));
          expect(refill(bucket(level, 0, perMinute), perMinute, r).level).toBe(capacity(perMinute));
        },
      ),
    );
  });

  test("remaining is the whole requests in the level, never negative", () => {
    expect(remaining(bucket(UNIT - 1, 0, 60))).toBe(0);
    expect(remaining(bucket(UNIT, 0, 60))).toBe(1);
    expect(remaining(bucket(-5, 0, 60))).toBe(0);
    fc.assert(
      fc.property(fc.integer({ min: -1e13, max: 1e13 }), (level) => {
        const r = remaining(bucket(level, 0, 1));
        expect(Number.isSafeInteger(r)).toBe(true);
        expect(r * UNIT).toBeLessThanOrEqual(Math.max(0, level));
        expect(Math.max(0, level)).toBeLessThan((r + 1) * UNIT);
      }),
    );
  });
});
