import { describe, expect, test, setDefaultTimeout } from "bun:test";
import fc from "fast-check";
import { loadConfig } from "../src/config/load";
import { ApiError } from "../src/lib/errors";
import type { Principal } from "../src/gateway/key-auth";
import { refill, UNIT, waitMs } from "../src/gateway/limits/bucket";
import { BucketLimiter, type BucketRow, type BucketStore } from "../src/gateway/limits/bucket-limiter";
import { formatDuration } from "../src/gateway/limits/duration";
import { effectivePlan, keyLevel, tierTarget, type PlanPolicy } from "../src/gateway/limits/plans";

// Real servers and real sleeps (the SDK honours retry-after) on a shared, noisy machine.
setDefaultTimeout(60_000);

type Plan = { rpm: number; tpm: number; concurrency: number };

const policy = (plans: Record<string, Plan>, tiers: PlanPolicy["tiers"] = [], default_plan = "default"): PlanPolicy => ({
  plans: { default: { rpm: 600, tpm: 1_000_000, concurrency: 50 }, ...plans },
  default_plan,
  tiers,
});

const principal = (o: Partial<Principal> = {}): Principal => ({
  keyId: "key_a",
  keyName: "",
  keyDisplay: "sk-tg-…abcd",
  models: null,
  expiresAt: null,
  spendCapMicros: null,
  capKeyId: o.keyId ?? "key_a",
  accountId: "acc_a",
  accountName: "A",
  plan: "p",
  keyLimits: null,
  ...o,
});

/** A manual clock (ms). */
function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, set: (v: number) => void (t = v), add: (ms: number) => void (t += ms), get t() { return t; } };
}

/** admit() that returns the 429 instead of throwing it. */
function tryAdmit(l: BucketLimiter, p: Principal, tokens = 0) {
  try {
    return { ok: true as const, adm: l.admit(p, tokens) };
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    return { ok: false as const, err: e };
  }
}

function memoryStore(rows: BucketRow[] = []): BucketStore & { rows: Map<string, BucketRow>; saves: number } {
  const map = new Map(rows.map((r) => [r.id, r]));
  return {
    rows: map,
    saves: 0,
    load: () => [...map.values()],
    save(upserts, deletes) {
      this.saves++;
      for (const r of upserts) map.set(r.id, { ...r });
      for (const id of deletes) map.delete(id);
    },
  };
}

describe("formatDuration (OpenAI's x-ratelimit-reset-* format)", () => {
  test.each([
    [0, "0s"],
    [1, "1ms"],
    [120, "120ms"],
    [999, "999ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [1250, "1.25s"],
    [1001, "1.001s"],
    [59_999, "59.999s"],
    [60_000, "1m0s"],
    [360_000, "6m0s"],
    [90_500, "1m30.5s"],
    [3_600_000, "1h0m0s"],
    [3_723_250, "1h2m3.25s"],
    [0.2, "1ms"],
  ])("%p ms -> %p", (ms, s) => expect(formatDuration(ms)).toBe(s));
});

describe("bucket arithmetic", () => {
  test("refills continuously at perMinute units per ms and caps at the burst", () => {
    const b = { level: 0, at: 0, perMinute: 60 };
    refill(b, 60, 500);
    expect(b.level).toBe(500 * 60); // half a request
    refill(b, 60, 1000);
    expect(b.level).toBe(UNIT);
    refill(b, 60, 10_000_000_000_000); // a very long idle: full, no overflow
    expect(b.level).toBe(60 * UNIT);
  });

  test("the wait is the exact time until the cost is covered", () => {
    const b = { level: 0, at: 0, perMinute: 60 };
    expect(waitMs(b, UNIT, 60)).toBe(1000);
    b.level = 1;
    expect(waitMs(b, UNIT, 60)).toBe(1000); // rounded up: 999.98 ms would be too early
    b.level = -UNIT; // debt of one request
    expect(waitMs(b, UNIT, 60)).toBe(2000);
  });

  test("a lowered limit clamps the level to the new burst", () => {
    const b = { level: 600 * UNIT, at: 0, perMinute: 600 };
    refill(b, 10, 0);
    expect(b.level).toBe(10 * UNIT);
  });
});

describe("plans", () => {
  const pol = policy({ p: { rpm: 60, tpm: 1000, concurrency: 5 } });

  test("an unknown or removed plan falls back to the default plan", () => {
    expect(effectivePlan(pol, "p").name).toBe("p");
    expect(effectivePlan(pol, "gone")).toEqual({ name: "default", limits: { rpm: 600, tpm: 1_000_000, concurrency: 50 } });
  });

  test("key overrides only tighten", () => {
    const plan = { rpm: 60, tpm: 1000, concurrency: 5 };
    expect(keyLevel(plan, { rpm: 10, tpm: null, concurrency: 99 })).toEqual({ rpm: 10, tpm: 1000, concurrency: 5 });
    expect(keyLevel(plan, null)).toEqual(plan);
  });

  test("tiers move up by lifetime top-ups, never down, never off an operator-chosen plan", () => {
    const tiers = [
      { min_lifetime_topup_micros: 10_000_000, plan: "t1" },
      { min_lifetime_topup_micros: 100_000_000, plan: "t2" },
    ];
    const small = { rpm: 1, tpm: 1, concurrency: 1 };
    const pt = policy({ t1: small, t2: small, enterprise: small }, tiers);
    expect(tierTarget(pt, "default", 9_999_999)).toBeNull();
    expect(tierTarget(pt, "default", 10_000_000)).toBe("t1");
    expect(tierTarget(pt, "default", 500_000_000)).toBe("t2");
    expect(tierTarget(pt, "t1", 100_000_000)).toBe("t2");
    expect(tierTarget(pt, "t1", 50_000_000)).toBeNull(); // already there
    expect(tierTarget(pt, "t2", 10_000_000)).toBeNull(); // never down
    expect(tierTarget(pt, "enterprise", 500_000_000)).toBeNull(); // chosen by the operator
    expect(tierTarget(pt, "unconfigured", 10_000_000)).toBe("t1"); // counts as the default plan
    expect(tierTarget(policy({}), "default", 1e12)).toBeNull();
  });
});

describe("BucketLimiter", () => {
  const pol = policy({ p: { rpm: 60, tpm: 1000, concurrency: 3 } });

  test("a 60 RPM plan admits exactly the burst, then 429s whose retry-after is the true wait", () => {
    const c = clock();
    const l = new BucketLimiter(pol, { now: c.now });
    const p = principal();
    for (let i = 0; i < 60; i++) l.admit(p, 0).release();
    const r = tryAdmit(l, p);
    expect(r.ok).toBe(false);
    const err = (r as { err: ApiError }).err;
    expect(err.status).toBe(429);
    expect(err.type).toBe("requests");
    expect(err.code).toBe("rate_limit_exceeded");
    expect(err.headers["retry-after-ms"]).toBe("1000");
    expect(err.headers["retry-after"]).toBe("1");
    expect(err.headers["x-ratelimit-remaining-requests"]).toBe("0");
    expect(err.headers["x-ratelimit-reset-requests"]).toBe("1m0s");
    expect(err.headers["x-should-retry"]).toBeUndefined();
    expect(err.message).toContain("Please try again in 1s");

    c.add(999);
    const early = tryAdmit(l, p);
    expect(early.ok).toBe(false);
    expect((early as { err: ApiError }).err.headers["retry-after-ms"]).toBe("1");
    c.add(1);
    expect(tryAdmit(l, p).ok).toBe(true);
    // 250 ms later: a quarter of a request has refilled, 750 ms to go.
    c.add(250);
    expect((tryAdmit(l, p) as { err: ApiError }).err.headers["retry-after-ms"]).toBe("750");
  });

  test("headers report the tighter of key and account levels and count down", () => {
    const c = clock();
    const l = new BucketLimiter(pol, { now: c.now });
    const p = principal({ keyLimits: { rpm: 10, tpm: null, concurrency: null } });
    expect(l.headers(p)).toEqual({
      "x-ratelimit-limit-requests": "10",
      "x-ratelimit-remaining-requests": "10",
      "x-ratelimit-reset-requests": "0s",
      "x-ratelimit-limit-tokens": "1000",
      "x-ratelimit-remaining-tokens": "1000",
      "x-ratelimit-reset-tokens": "0s",
    });
    const a = l.admit(p, 100);
    expect(a.headers["x-ratelimit-remaining-requests"]).toBe("9");
    expect(a.headers["x-ratelimit-reset-requests"]).toBe("6s"); // one request at 10 RPM
    expect(a.headers["x-ratelimit-remaining-tokens"]).toBe("900");
    expect(a.headers["x-ratelimit-reset-tokens"]).toBe("6s"); // 100 tokens at 1000 TPM
    // Another key of the same account drains the account level: that becomes the tighter one.
    const other = principal({ keyId: "key_b" });
    for (let i = 0; i < 55; i++) l.admit(other, 0).release();
    const h = l.headers(p);
    expect(h["x-ratelimit-limit-requests"]).toBe("60");
    expect(h["x-ratelimit-remaining-requests"]).toBe("4");
  });

  test("both levels are enforced: a key override, and the account across its keys", () => {
    const c = clock();
    const l = new BucketLimiter(pol, { now: c.now });
    const k1 = principal({ keyId: "k1", keyLimits: { rpm: 5, tpm: null, concurrency: null } });
    const k2 = principal({ keyId: "k2" });
    for (let i = 0; i < 5; i++) l.admit(k1, 0).release();
    const r = tryAdmit(l, k1);
    expect(r.ok).toBe(false);
    expect((r as { err: ApiError }).err.message).toContain("key k1");
    expect((r as { err: ApiError }).err.headers["retry-after-ms"]).toBe("12000"); // 60 s / 5
    for (let i = 0; i < 55; i++) l.admit(k2, 0).release();
    const r2 = tryAdmit(l, k2);
    expect(r2.ok).toBe(false);
    expect((r2 as { err: ApiError }).err.message).toContain("account acc_a");
  });

  test("tokens: charged at admission with the estimate, corrected at settlement", () => {
    const c = clock();
    const l = new BucketLimiter(pol, { now: c.now });
    const p = principal();
    const a = l.admit(p, 800);
    expect(l.limits(p).remaining.tokens).toBe(200);
    const r = tryAdmit(l, p, 300);
    expect(r.ok).toBe(false);
    const err = (r as { err: ApiError }).err;
    expect(err.type).toBe("tokens");
    expect(err.headers["retry-after-ms"]).toBe("6000"); // 100 tokens at 1000 TPM
    a.settle(50); // used far less than estimated: refunded
    a.settle(5000); // only the first settlement counts
    expect(l.limits(p).remaining.tokens).toBe(950);
    expect(tryAdmit(l, p, 300).ok).toBe(true);
  });

  test("usage above the estimate becomes a debt that delays the next request by exactly that", () => {
    const c = clock();
    const l = new BucketLimiter(pol, { now: c.now });
    const p = principal();
    l.admit(p, 1000).settle(1500); // 500 tokens of debt
    expect(l.limits(p).remaining.tokens).toBe(0);
    const r = tryAdmit(l, p, 100);
    expect((r as { err: ApiError }).err.headers["retry-after-ms"]).toBe("36000"); // 600 tokens at 1000 TPM
    c.add(35_999);
    expect(tryAdmit(l, p, 100).ok).toBe(false);
    c.add(1);
    expect(tryAdmit(l, p, 100).ok).toBe(true);
  });

  test("a request that can never fit the token bucket gets a final 429 (x-should-retry: false)", () => {
    const l = new BucketLimiter(pol, { now: clock().now });
    const p = principal();
    const r = tryAdmit(l, p, 1001);
    expect(r.ok).toBe(false);
    const err = (r as { err: ApiError }).err;
    expect(err.status).toBe(429);
    expect(err.type).toBe("tokens");
    expect(err.code).toBe("rate_limit_exceeded");
    expect(err.headers["x-should-retry"]).toBe("false");
    expect(err.headers["retry-after"]).toBeUndefined();
    expect(err.message).toContain("Request too large");
    expect(err.message).toContain("Limit 1000, Requested 1001");
    // Nothing was charged.
    expect(l.limits(p).remaining).toEqual({ requests: 60, tokens: 1000, concurrency: 3 });
    // A key override that is tighter than the plan counts too.
    const k = principal({ keyId: "k", keyLimits: { rpm: null, tpm: 10, concurrency: null } });
    expect((tryAdmit(l, k, 11) as { err: ApiError }).err.headers["x-should-retry"]).toBe("false");
  });

  test("concurrency: in-flight requests are capped and released once per admission", () => {
    const l = new BucketLimiter(pol, { now: clock().now });
    const p = principal();
    const held = [l.admit(p, 0), l.admit(p, 0), l.admit(p, 0)];
    const r = tryAdmit(l, p);
    expect(r.ok).toBe(false);
    const err = (r as { err: ApiError }).err;
    expect(err.type).toBe("requests");
    expect(err.code).toBe("rate_limit_exceeded");
    expect(err.message).toContain("concurrent requests");
    expect(err.headers["retry-after"]).toBe("1");
    expect(err.headers["retry-after-ms"]).toBe("1000");
    held[0]!.release();
    held[0]!.release(); // idempotent: must not free a second slot
    expect(l.inFlight("account", "acc_a")).toBe(2);
    expect(tryAdmit(l, p).ok).toBe(true);
    expect(tryAdmit(l, p).ok).toBe(false);
  });

  test("200 simultaneous admissions against a cap of 50: exactly 50 in flight, all slots come back", () => {
    const l = new BucketLimiter(policy({ p: { rpm: 100_000, tpm: 10_000_000, concurrency: 50 } }), { now: clock().now });
    const keys = Array.from({ length: 4 }, (_, i) => principal({ keyId: `k${i}` }));
    const results = Array.from({ length: 200 }, (_, i) => tryAdmit(l, keys[i % 4]!, 10));
    const admitted = results.filter((r) => r.ok);
    expect(admitted.length).toBe(50);
    expect(l.inFlight("account", "acc_a")).toBe(50);
    for (const r of results) if (!r.ok) expect(r.err.message).toContain("concurrent");
    for (const r of admitted) (r as { adm: { release(): void } }).adm.release();
    expect(l.inFlight("account", "acc_a")).toBe(0);
    for (const k of keys) expect(l.inFlight("key", k.keyId)).toBe(0);
  });

  test("cancel() gives back the request and its tokens (refused before upstream work, e.g. 402)", () => {
    const c = clock();
    const l = new BucketLimiter(pol, { now: c.now });
    const p = principal();
    const before = l.limits(p);
    const a = l.admit(p, 400);
    expect(l.limits(p).remaining).toEqual({ requests: 59, tokens: 600, concurrency: 2 });
    a.cancel();
    a.cancel();
    a.release();
    expect(l.limits(p)).toEqual(before);
    // After settlement there is nothing left to give back; the slot is still freed.
    const b = l.admit(p, 400);
    b.settle(100);
    b.cancel();
    expect(l.limits(p).remaining).toEqual({ requests: 59, tokens: 900, concurrency: 3 });
    // 61 refused-for-credit requests in a row never turn into 429s.
    for (let i = 0; i < 61; i++) l.admit(p, 10).cancel();
  });

  test("a plan change applies at the next request", () => {
    const c = clock();
    const l = new BucketLimiter(policy({ small: { rpm: 2, tpm: 1000, concurrency: 5 }, big: { rpm: 600, tpm: 1000, concurrency: 5 } }), { now: c.now });
    l.admit(principal({ plan: "small" }), 0);
    l.admit(principal({ plan: "small" }), 0);
    expect(tryAdmit(l, principal({ plan: "small" })).ok).toBe(false);
    // The bucket keeps its (empty) level but refills at the new rate: 100 ms per request.
    const r = tryAdmit(l, principal({ plan: "big" }));
    expect((r as { err: ApiError }).err.headers["retry-after-ms"]).toBe("100");
    c.add(100);
    expect(tryAdmit(l, principal({ plan: "big" })).ok).toBe(true);
  });

  test("state survives a restart through the store; full buckets are not kept", () => {
    const c = clock();
    const store = memoryStore();
    const l = new BucketLimiter(pol, { now: c.now, store });
    const p = principal();
    for (let i = 0; i < 60; i++) l.admit(p, 10).release();
    expect(l.persist()).toBe(4); // request and token buckets of key and account
    expect(store.rows.size).toBe(4);
    expect(l.persist()).toBe(0); // nothing changed: nothing written

    const again = new BucketLimiter(pol, { now: c.now, store });
    const r = tryAdmit(again, p);
    expect((r as { err: ApiError }).err.headers["retry-after-ms"]).toBe("1000");
    // Time passes while stopped: the buckets refill by it.
    c.add(30_000);
    const later = new BucketLimiter(pol, { now: c.now, store });
    expect(later.limits(p).remaining.requests).toBe(30);
    // Once full, the next snapshot drops them from memory and from the store.
    c.add(60_000);
    expect(later.persist()).toBe(4);
    expect(store.rows.size).toBe(0);
  });

  test("a failed snapshot is retried by the next one", () => {
    const store = memoryStore();
    let fail = true;
    const flaky: BucketStore = {
      load: () => [],
      save(u, d) {
        if (fail) throw new Error("disk full");
        store.save(u, d);
      },
    };
    const l = new BucketLimiter(pol, { now: clock().now, store: flaky });
    l.admit(principal(), 5);
    expect(() => l.persist()).toThrow("disk full");
    fail = false;
    expect(l.persist()).toBe(4);
    expect(store.rows.size).toBe(4);
  });
});

describe("properties (fast-check, injected clock, zero tolerance)", () => {
  type Op = { dt: number; key: number; tokens: number; actual: number; settle: boolean; release: boolean; probe: boolean };
  const op = (maxTokens: number): fc.Arbitrary<Op> =>
    fc.record({
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 120_000 })),
      key: fc.integer({ min: 0, max: 2 }),
      tokens: fc.integer({ min: 0, max: maxTokens }),
      actual: fc.integer({ min: 0, max: 2 * maxTokens }),
      settle: fc.boolean(),
      release: fc.boolean(),
      probe: fc.boolean(),
    });

  const scenario = fc
    .record({
      rpm: fc.integer({ min: 1, max: 2000 }),
      tpm: fc.integer({ min: 1, max: 200_000 }),
      concurrency: fc.integer({ min: 1, max: 1000 }),
      keyRpm: fc.option(fc.integer({ min: 1, max: 2000 })),
      keyTpm: fc.option(fc.integer({ min: 1, max: 200_000 })),
    })
    .chain((s) => fc.record({ s: fc.constant(s), ops: fc.array(op(Math.ceil(s.tpm * 0.6)), { minLength: 1, maxLength: 150 }) }));

  /**
   * Replays a schedule and checks, at every admission, for the buckets it passed (its key's and
   * the account's, requests and tokens): charged x 60000 <= limit x 60000 + limit x elapsed ms, i.e.
   * admitted <= burst + rate x elapsed. Token charges include settlement corrections so far.
   * On a rate 429, a probe checks that retry-after-ms is exact: still refused 1 ms earlier, admitted then.
   */
  function replay(s: { rpm: number; tpm: number; concurrency: number; keyRpm: number | null; keyTpm: number | null }, ops: Op[]) {
    const c = clock(1_000);
    const start = c.t;
    const l = new BucketLimiter(policy({ p: { rpm: s.rpm, tpm: s.tpm, concurrency: s.concurrency } }), { now: c.now });
    const keys = [0, 1, 2].map((i) =>
      principal({ keyId: `k${i}`, keyLimits: i === 0 ? { rpm: s.keyRpm, tpm: s.keyTpm, concurrency: null } : null }),
    );
    const keyLim = { rpm: Math.min(s.rpm, s.keyRpm ?? Infinity), tpm: Math.min(s.tpm, s.keyTpm ?? Infinity) };
    const count = { acct: { r: 0, t: 0 }, k: [0, 1, 2].map(() => ({ r: 0, t: 0 })) };
    const open: { adm: ReturnType<BucketLimiter["admit"]>; key: number; tokens: number; settled: boolean }[] = [];
    let admitted = 0;

    // The buckets an admission passed: the account's and its key's.
    const check = (key: number) => {
      const elapsed = c.t - start;
      const within = (n: number, limit: number) => n * UNIT <= limit * UNIT + limit * elapsed;
      if (!within(count.acct.r, s.rpm) || !within(count.acct.t, s.tpm)) throw new Error(`account bound broken at ${elapsed} ms`);
      const k = count.k[key]!;
      const lim = key === 0 ? keyLim : s;
      if (!within(k.r, lim.rpm) || !within(k.t, lim.tpm)) throw new Error(`key ${key} bound broken at ${elapsed} ms`);
    };
    const charge = (key: number, r: number, t: number) => {
      count.acct.r += r;
      count.acct.t += t;
      count.k[key]!.r += r;
      count.k[key]!.t += t;
    };
    const admit = (o: Op) => {
      const r = tryAdmit(l, keys[o.key]!, o.tokens);
      if (r.ok) {
        admitted++;
        charge(o.key, 1, o.tokens);
        check(o.key);
        open.push({ adm: r.adm, key: o.key, tokens: o.tokens, settled: false });
      }
      return r;
    };

    for (const o of ops) {
      c.add(o.dt);
      const r = admit(o);
      if (!r.ok && o.probe && r.err.headers["retry-after-ms"] && !r.err.message.includes("concurrent")) {
        const wait = Number(r.err.headers["retry-after-ms"]);
        if (wait > 1) {
          c.add(wait - 1);
          if (tryAdmit(l, keys[o.key]!, o.tokens).ok) throw new Error(`admitted before retry-after-ms (${wait})`);
          c.add(1);
        } else c.add(wait);
        const again = admit(o);
        // Only a concurrency cap may still refuse it (that is not a rate wait).
        if (!again.ok && !again.err.message.includes("concurrent")) throw new Error(`refused after retry-after-ms (${wait}): ${again.err.message}`);
      }
      const unsettled = open.find((x) => !x.settled);
      if (o.settle && unsettled) {
        unsettled.adm.settle(o.actual);
        unsettled.settled = true;
        charge(unsettled.key, 0, o.actual - unsettled.tokens);
      }
      if (o.release && open.length) open.shift()!.adm.release();
    }
    return admitted;
  }

  test("admitted never exceeds burst + rate x elapsed, and retry-after-ms is exact (3000 schedules)", () => {
    let total = 0;
    fc.assert(
      fc.property(scenario, ({ s, ops }) => {
        total += replay(s, ops);
      }),
      { numRuns: 3000 },
    );
    expect(total).toBeGreaterThan(0);
  }, 60_000);

  test("a burst at one instant admits exactly min(burst, concurrency) requests", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 400 }), (rpm, concurrency, n) => {
        const l = new BucketLimiter(policy({ p: { rpm, tpm: 1_000_000, concurrency } }), { now: clock().now });
        let ok = 0;
        for (let i = 0; i < n; i++) if (tryAdmit(l, principal(), 1).ok) ok++;
        return ok === Math.min(n, rpm, concurrency);
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});

describe("config", () => {
  test("a default plan always exists and is generous but real", () => {
    const c = loadConfig({ overrides: { db_path: ":memory:" } });
    expect(c.default_plan).toBe("default");
    expect(c.plans.default).toEqual({ rpm: 600, tpm: 1_000_000, concurrency: 50 });
    expect(c.ratelimit_snapshot_seconds).toBe(5);
    // Adding plans keeps the built-in one; configuring "default" replaces it.
    expect(Object.keys(loadConfig({ overrides: { plans: { pro: { rpm: 1, tpm: 1, concurrency: 1 } } } }).plans).sort()).toEqual(["default", "pro"]);
    expect(loadConfig({ overrides: { plans: { default: { rpm: 1, tpm: 2, concurrency: 3 } } } }).plans.default).toEqual({ rpm: 1, tpm: 2, concurrency: 3 });
  });

  test("plans, tiers (sorted, USD to micros) and env", () => {
    const c = loadConfig({
      env: { TOLLGATE_DEFAULT_PLAN: "free", TOLLGATE_RATELIMIT_SNAPSHOT_SECONDS: "2" },
      overrides: {
        plans: { free: { rpm: 10, tpm: 1000, concurrency: 1 }, pro: { rpm: 100, tpm: 10000, concurrency: 5 } },
        tiers: [{ min_lifetime_topup_usd: "50", plan: "pro" }, { min_lifetime_topup_usd: 5, plan: "free" }],
      },
    });
    expect(c.default_plan).toBe("free");
    expect(c.ratelimit_snapshot_seconds).toBe(2);
    // No built-in "default" plan then: accounts created on "default" get the default plan, "free".
    expect(Object.keys(c.plans).sort()).toEqual(["free", "pro"]);
    expect(effectivePlan(c, "default").name).toBe("free");
    expect(c.tiers).toEqual([
      { min_lifetime_topup_micros: 5_000_000, plan: "free" },
      { min_lifetime_topup_micros: 50_000_000, plan: "pro" },
    ]);
  });

  test("referencing an unknown plan is a one-line config error", () => {
    expect(() => loadConfig({ overrides: { default_plan: "nope" } })).toThrow(/default_plan: unknown plan "nope"/);
    expect(() => loadConfig({ overrides: { tiers: [{ min_lifetime_topup_usd: 1, plan: "gold" }] } })).toThrow(/tiers\.0\.plan: unknown plan "gold"/);
    expect(() => loadConfig({ overrides: { plans: { x: { rpm: 0, tpm: 1, concurrency: 1 } } } })).toThrow(/plans\.x\.rpm/);
  });
});
