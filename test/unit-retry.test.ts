import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { backoffMs, classifyStatus, MAX_BACKOFF_MS, retryAfterMs } from "../src/gateway/upstream/retry";

/** The retry policy's pure parts (src/gateway/upstream/retry.ts). */
const headers = (h: Record<string, string>) => new Headers(h);
/** A random in [0, 1) from an integer, as Math.random gives. */
const unitArb = fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((n) => n / 2 ** 32);

describe("backoffMs: full jitter under an exponential cap", () => {
  test("uniform in [0, min(10 s, base × 2^(retry-1))), floored", () => {
    expect(MAX_BACKOFF_MS).toBe(10_000);
    expect(backoffMs(1, 100, () => 0.5)).toBe(50);
    expect(backoffMs(2, 100, () => 0.5)).toBe(100);
    expect(backoffMs(3, 100, () => 0.5)).toBe(200);
    expect(backoffMs(7, 100, () => 0.5)).toBe(3200);
    expect(backoffMs(8, 100, () => 0.5)).toBe(5000); // 12.8 s capped at 10 s
    expect(backoffMs(60, 100, () => 0.5)).toBe(5000);
    expect(backoffMs(1, 100, () => 0)).toBe(0);
    expect(backoffMs(1, 100, () => 0.9999)).toBe(99);
    // A retry number below 1 is treated as the first retry.
    expect(backoffMs(0, 100, () => 0.5)).toBe(50);
    expect(backoffMs(-3, 100, () => 0.5)).toBe(50);
  });

  test("for any attempt, base and random: an integer in [0, cap), and never above 10 s", () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 100 }), fc.integer({ min: 1, max: 60_000 }), unitArb, (retry, base, r) => {
        const cap = Math.min(MAX_BACKOFF_MS, base * 2 ** Math.max(0, retry - 1));
        const ms = backoffMs(retry, base, () => r);
        expect(Number.isInteger(ms)).toBe(true);
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThan(cap);
        expect(ms).toBeLessThan(MAX_BACKOFF_MS);
        expect(ms).toBe(Math.floor(r * cap));
      }),
    );
  });

  test("grows with the random draw and with the attempt", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5_000 }), unitArb, unitArb, (retry, base, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(backoffMs(retry, base, () => lo)).toBeLessThanOrEqual(backoffMs(retry, base, () => hi));
        expect(backoffMs(retry, base, () => a)).toBeLessThanOrEqual(backoffMs(retry + 1, base, () => a));
      }),
    );
  });

  test("uses Math.random when no random is given", () => {
    for (let i = 0; i < 200; i++) {
      const ms = backoffMs(3, 100);
      expect(Number.isInteger(ms)).toBe(true);
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(400);
    }
  });
});

describe("retryAfterMs", () => {
  const NOW = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");

  test("retry-after-ms: milliseconds, fractions rounded up, surrounding spaces ignored", () => {
    expect(retryAfterMs(headers({ "retry-after-ms": "250" }))).toBe(250);
    expect(retryAfterMs(headers({ "retry-after-ms": "250.1" }))).toBe(251);
    expect(retryAfterMs(headers({ "retry-after-ms": " 300 " }))).toBe(300);
    expect(retryAfterMs(headers({ "retry-after-ms": "0" }))).toBe(0);
  });

  test("retry-after-ms wins over retry-after; an unreadable one falls back to retry-after", () => {
    expect(retryAfterMs(headers({ "retry-after-ms": "250", "retry-after": "7" }))).toBe(250);
    for (const bad of ["abc", "-5", "1e3", "", "12ms", "0x10"]) {
      expect([bad, retryAfterMs(headers({ "retry-after-ms": bad, "retry-after": "2" }))]).toEqual([bad, 2000]);
      expect([bad, retryAfterMs(headers({ "retry-after-ms": bad }))]).toEqual([bad, null]);
    }
  });

  test("retry-after in seconds, fractions rounded up to the ms", () => {
    expect(retryAfterMs(headers({ "retry-after": "7" }))).toBe(7000);
    expect(retryAfterMs(headers({ "retry-after": "0" }))).toBe(0);
    expect(retryAfterMs(headers({ "retry-after": "1.5" }))).toBe(1500);
    expect(retryAfterMs(headers({ "retry-after": "0.0001" }))).toBe(1);
    expect(retryAfterMs(headers({ "retry-after": " 3 " }))).toBe(3000);
  });

  test("retry-after as an HTTP date: the time until then from `now`, never negative", () => {
    expect(retryAfterMs(headers({ "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT" }), NOW - 5000)).toBe(5000);
    expect(retryAfterMs(headers({ "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT" }), NOW)).toBe(0);
    expect(retryAfterMs(headers({ "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT" }), NOW + 60_000)).toBe(0);
    expect(retryAfterMs(headers({ "retry-after": "Wed, 21 Oct 2015 07:30:00 GMT" }), NOW)).toBe(120_000);
  });

  test("absent, empty or garbage: null", () => {
    expect(retryAfterMs(headers({}))).toBeNull();
    for (const v of ["", "   ", "soon", "1e3", "5s", "0x10", "NaN", "Infinity"]) {
      expect([v, retryAfterMs(headers({ "retry-after": v }), NOW)]).toEqual([v, null]);
    }
  });

  test("any whole or decimal number of seconds or ms reads back exactly (rounded up)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 0, max: 999 }), (whole, frac) => {
        const text = frac === 0 ? String(whole) : `${whole}.${String(frac).padStart(3, "0")}`;
        expect(retryAfterMs(headers({ "retry-after-ms": text }))).toBe(Math.ceil(Number(text)));
        expect(retryAfterMs(headers({ "retry-after": text }))).toBe(Math.ceil(Number(text) * 1000));
      }),
    );
  });

  test("any date in the future reads back to the ms (HTTP dates carry whole seconds)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 365 * 86_400 }), fc.integer({ min: 0, max: 999 }), (seconds, msBefore) => {
        const at = NOW + seconds * 1000;
        expect(retryAfterMs(headers({ "retry-after": new Date(at).toUTCString() }), at - msBefore)).toBe(msBefore);
      }),
    );
  });
});

describe("classifyStatus", () => {
  test.each([
    [401, null, "next_key", true],
    [402, null, "next_key", true],
    [403, null, "next_key", true],
    [400, "upstream_auth_error", "next_key", true],
    [500, "upstream_auth_error", "next_key", true],
    [429, "upstream_unavailable", "next_key", true], // e.g. the upstream account is out of credit
    [400, "upstream_unavailable", "next_key", true],
    [503, "upstream_unavailable", "retry", true],
    [404, null, "next_deployment", false],
    [404, "model_not_found", "next_deployment", false],
    [408, null, "retry", true],
    [429, null, "retry", true],
    [429, "rate_limit_exceeded", "retry", true],
    [500, null, "retry", true],
    [502, null, "retry", true],
    [503, null, "retry", true],
    [504, null, "retry", true],
    [599, null, "retry", true],
    [400, null, "fatal", false],
    [400, "invalid_request_error", "fatal", false],
    [409, null, "fatal", false],
    [413, null, "fatal", false],
    [422, null, "fatal", false],
  ] as const)("%i with %p: %s (breaker %p)", (status, code, action, breaker) => {
    expect(classifyStatus(status, code)).toEqual({ action, breaker });
  });

  test("a failure counts against the key's breaker exactly when it is retried or moves to another key", () => {
    const codes = fc.constantFrom(null, "upstream_auth_error", "upstream_unavailable", "upstream_error", "rate_limit_exceeded", "model_not_found");
    fc.assert(
      fc.property(fc.integer({ min: 400, max: 599 }), codes, (status, code) => {
        const { action, breaker } = classifyStatus(status, code);
        expect(["retry", "next_key", "next_deployment", "fatal"]).toContain(action);
        expect(breaker).toBe(action === "retry" || action === "next_key");
        if (status >= 500 && code !== "upstream_auth_error") expect(action).toBe("retry");
      }),
    );
  });
});
