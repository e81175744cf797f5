/**
 * One account whose requests make the upstream fail cannot make another account's single,
 * ordinary failure open the breaker: with min_accounts > 1 the opening rules (streak, rate, and
 * the failed probe's reopening) must hold without the account that has the most failures.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { CircuitBreaker } from "../src/gateway/upstream/breaker";
import { chat, user } from "./support/chat";
import { manualClock } from "./support/foundation";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);

/** The documented defaults (config `breaker.*`), in the breaker's own terms. */
const DEFAULTS = { failures: 5, windowMs: 60_000, cooldownMs: 30_000, minAccounts: 2, minRequests: 20, failureRate: 0.5 };

describe("breaker evidence must not rest on the top failing account (injected clock)", () => {
  test("A's 25 failures plus B's single failure open it neither by the streak nor by the rate", () => {
    const clock = manualClock();
    const b = new CircuitBreaker(DEFAULTS, clock.now);
    for (let i = 0; i < 25; i++) b.failure(b.acquire()!, "acc_a");
    expect(b.state).toBe("closed");
    // Streak: A's failures run straight into B's one failure (two accounts, 26 in a row).
    b.failure(b.acquire()!, "acc_b");
    expect(b.state).toBe("closed");
    // Rate: B's ordinary traffic, 1 failure in 30; overall the window is mostly A's failures.
    for (let i = 0; i < 30; i++) {
      const p = b.acquire()!;
      expect(p).toBe("normal");
      if (i === 10) b.failure(p, "acc_b");
      else b.success(p, "acc_b");
      clock.advance(10);
    }
    expect(b.state).toBe("closed");
    // A keeps failing between B's calls: still closed.
    for (let i = 0; i < 20; i++) b.failure(b.acquire()!, "acc_a");
    expect(b.state).toBe("closed");
    expect(b.timesOpened).toBe(0);
  });

  test("failures of B and C reaching `failures` open it, on top of A's", () => {
    const clock = manualClock();
    const b = new CircuitBreaker(DEFAULTS, clock.now);
    for (let i = 0; i < 25; i++) b.failure("normal", "acc_a");
    for (let i = 0; i < 4; i++) b.failure("normal", i % 2 ? "acc_c" : "acc_b");
    expect(b.state).toBe("closed");
    b.failure("normal", "acc_b");
    expect(b.state).toBe("open");
    expect(b.timesOpened).toBe(1);
  });

  test("the rate rule: B and C failing half their 20 calls open it, with A's failures in the window", () => {
    const clock = manualClock();
    const b = new CircuitBreaker(DEFAULTS, clock.now);
    for (let i = 0; i < 25; i++) b.failure("normal", "acc_a");
    // Alternating success / failure (no streak), spread over B and C.
    for (let i = 0; i < 20; i++) {
      expect(b.state).toBe("closed");
      const account = (i >> 1) % 2 ? "acc_c" : "acc_b";
      if (i % 2) b.failure("normal", account);
      else b.success("normal", account);
    }
    expect(b.state).toBe("open");
  });

  test("a failed probe reopens only while B and C's evidence is in the window; A's failing probes then close it", () => {
    const clock = manualClock();
    const b = new CircuitBreaker({ failures: 3, windowMs: 10_000, cooldownMs: 2_000, minAccounts: 2 }, clock.now);
    b.failure("normal", "acc_b");
    b.failure("normal", "acc_b");
    clock.advance(6_000);
    for (let i = 0; i < 10; i++) b.failure("normal", "acc_a");
    b.failure("normal", "acc_c"); // B's 2 + C's 1 without A: 3 (A's streak alone is the first test's case)
    expect(b.state).toBe("open");
    // Half-open with B and C's failures still in the window: A's failed probe reopens it.
    clock.advance(2_000);
    expect(b.acquire()).toBe("probe");
    b.failure("probe", "acc_a");
    expect(b.state).toBe("open");
    expect(b.timesOpened).toBe(2);
    // B's failures age out; only C's one remains besides A's: A's failed probe closes it.
    clock.advance(2_001);
    expect(b.acquire()).toBe("probe");
    b.failure("probe", "acc_a");
    expect(b.state).toBe("closed");
    // ... and A's further failures, with C's one, do not open it again.
    for (let i = 0; i < 5; i++) b.failure(b.acquire()!, "acc_a");
    expect(b.state).toBe("closed");
    expect(b.timesOpened).toBe(2);
  });

  test("min_accounts 1 is unchanged: one account's streak opens it and its failed probe reopens it", () => {
    const clock = manualClock();
    const b = new CircuitBreaker({ ...DEFAULTS, minAccounts: 1 }, clock.now);
    for (let i = 0; i < 5; i++) b.failure("normal", "acc_a");
    expect(b.state).toBe("open");
    clock.advance(30_000);
    b.failure(b.acquire()!, "acc_a");
    expect(b.state).toBe("open");
    expect(b.timesOpened).toBe(2);
  });
});

describe("over HTTP: account B keeps being served while account A's requests fail", () => {
  type Upstream = { state: string; times_opened: number };
  const upstreamState = async (gw: Gateway) => ((await (await gw.admin("/admin/upstreams")).json()) as { data: Upstream[] }).data[0]!;
  const send = async (gw: Gateway, key: string, fail: boolean) => {
    const res = await chat(gw.url, key, { model: "grok-4", messages: user(), max_tokens: 5, ...(fail ? { mock: { status: 500, error_body: { error: "boom" } } } : {}) });
    await res.arrayBuffer();
    return res.status;
  };

  test("default breaker (short cooldown): A's failures and B's one failure do not open it; B and C failing do", async () => {
    const breaker = { failures: 5, window_ms: 60_000, cooldown_ms: 300, failure_rate: 0.5, min_requests: 20, min_accounts: 2 };
    const gw = await startGateway({ upstream: true, config: { retry: { max_attempts: 1 }, breaker } });
    try {
      const a = await gw.customer(5_000_000);
      const b = await gw.customer(5_000_000);
      const c = await gw.customer(5_000_000);
      for (let i = 0; i < 25; i++) expect(await send(gw, a.key, true)).toBe(502);
      // B's 30 requests (the 11th answered 500 by the upstream), with a failing request of A after each.
      const bStatuses: number[] = [];
      const aStatuses: number[] = [];
      for (let i = 0; i < 30; i++) {
        bStatuses.push(await send(gw, b.key, i === 10));
        aStatuses.push(await send(gw, a.key, true));
      }
      expect(bStatuses.filter((s) => s === 200)).toHaveLength(29);
      expect(bStatuses[10]).toBe(502);
      // A's requests reached the upstream every time (a 503 would be the breaker refusing them).
      expect(aStatuses.every((s) => s === 502)).toBe(true);
      expect(await upstreamState(gw)).toMatchObject({ state: "closed", times_opened: 0 });
      // A real outage seen by B and C: a run of failures that holds five without its top account
      // (B and C alternating after A's last one: the eighth makes A + 4 of one + 4 of the other).
      for (let i = 0; i < 7; i++) expect(await send(gw, i % 2 ? c.key : b.key, true)).toBe(502);
      expect(await upstreamState(gw)).toMatchObject({ state: "closed" });
      expect(await send(gw, c.key, true)).toBe(502);
      expect(await upstreamState(gw)).toMatchObject({ state: "open", times_opened: 1 });
      expect(await send(gw, b.key, false)).toBe(503);
    } finally {
      await gw.stop();
    }
  });
});

describe("the streak rule is a run of failures", () => {
  test("other accounts' ordinary scattered failures beside one account's burst are no streak", () => {
    const clock = manualClock();
    const b = new CircuitBreaker({ failures: 5, windowMs: 60_000, cooldownMs: 30_000, minAccounts: 2, minRequests: 20, failureRate: 0.5 }, clock.now);
    // B: 200 calls over 40 s, one failure in 40 (never two in a row): 5 failures in the window.
    for (let i = 0; i < 200; i++) {
      const p = b.acquire()!;
      if (i % 40 === 20) b.failure(p, "acc_b");
      else b.success(p, "acc_b");
      clock.advance(200);
    }
    // A alone fails 5 times in a row: without A the run holds nothing, and 2.5 % is no rate.
    for (let i = 0; i < 5; i++) b.failure(b.acquire()!, "acc_a");
    expect(b.state).toBe("closed");
    // B and C failing in a row too: the run holds 5 without its top account.
    for (let i = 0; i < 8 && b.state === "closed"; i++) b.failure(b.acquire()!, i % 2 ? "acc_c" : "acc_b");
    expect(b.state).toBe("open");
  });
});
