import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chat, until, user } from "./support/chat";
import { startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { cutStreamCost, deadUrl, elapsedSince, expectExactLedger, FAST, gatewayOver, readSseTimed, usageRow } from "./support/resilience";
import type { Gateway } from "./support/gateway";

/**
 * Every upstream fault, injected on loopback: what the client sees, how long it takes, and that
 * the ledger is exact (no hold left, charged once or not at all). Timeouts are configured small
 * (FAST: first byte and stream gap 0.8 s, total 6 s, 2 attempts).
 */
setDefaultTimeout(30_000);
const CREDITS = 10_000_000;
let upstream: MockUpstream;
let gw: Gateway;

beforeAll(async () => {
  upstream = startFakeUpstream();
  gw = await gatewayOver([{ id: "fake", url: upstream.url }]);
});
afterAll(async () => {
  await gw.stop();
  await upstream.stop();
});

type Err = { error: { message: string; type: string; code: string | null; param: string | null } };
const requestsSince = (n: number) => upstream.requests.length - n;

describe("before the first byte: a clear error fast, never a charge", () => {
  test("hang before headers (stream) → 504 within first_byte timeout + 1 s per attempt; upstream connection closed", async () => {
    const c = await gw.customer(CREDITS);
    const before = upstream.requests.length;
    const aborted = upstream.aborted;
    const t0 = performance.now();
    const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { hang: "headers" } });
    const took = elapsedSince(t0);
    expect(res.status).toBe(504);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = (await res.json()) as Err;
    expect(body.error).toMatchObject({ type: "server_error", code: "upstream_timeout" });
    expect(requestsSince(before)).toBe(2);
    expect(took).toBeLessThan(2 * FAST.timeouts.first_byte_ms + 1_000);
    expect(await until(() => upstream.aborted >= aborted + 2)).toBe(true);
    expect((await expectExactLedger(gw, c.accountId, CREDITS)).size).toBe(0);
    expect(usageRow(gw.runtime.deps.store.sqlite, res.headers.get("x-request-id")!)).toMatchObject({ status: 504, cost_micros: 0, error_code: "upstream_timeout" });
  });

  test("hang before headers (non-streaming) → 504 within the total timeout + 1 s, no retry after the deadline", async () => {
    // first_byte_ms beyond the total: the one wait is the deadline (a shorter first_byte_ms retries, as for streams).
    const g2 = await gatewayOver([{ id: "fake", url: upstream.url }], { timeouts: { ...FAST.timeouts, first_byte_ms: 5_000, total_ms: 1_500 } });
    try {
      const c = await g2.customer(CREDITS);
      const before = upstream.requests.length;
      const t0 = performance.now();
      const res = await chat(g2.url, c.key, { model: "grok-4", messages: user(), mock: { hang: "headers" } });
      expect(res.status).toBe(504);
      expect(((await res.json()) as Err).error.code).toBe("upstream_timeout");
      expect(elapsedSince(t0)).toBeLessThan(1_500 + 1_000);
      expect(requestsSince(before)).toBe(1);
      expect((await expectExactLedger(g2, c.accountId, CREDITS)).size).toBe(0);
    } finally {
      await g2.stop();
    }
  });

  for (const [status, code] of [[500, "upstream_error"], [503, "upstream_unavailable"]] as const) {
    test(`${status} → retried once, then ${code === "upstream_error" ? 502 : 503} ${code}; nothing charged`, async () => {
      const c = await gw.customer(CREDITS);
      const before = upstream.requests.length;
      const t0 = performance.now();
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { status } });
      expect(res.status).toBe(status === 500 ? 502 : 503);
      expect(((await res.json()) as Err).error).toMatchObject({ type: "server_error", code });
      expect(requestsSince(before)).toBe(FAST.retry.max_attempts);
      expect(elapsedSince(t0)).toBeLessThan(1_500);
      expect((await expectExactLedger(gw, c.accountId, CREDITS)).size).toBe(0);
    });

    test(`${status} on the first attempt only → the retry answers 200, charged exactly once`, async () => {
      const c = await gw.customer(CREDITS);
      const before = upstream.requests.length;
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { status, fail_times: 1, prompt_tokens: 20, completion_tokens: 7 } });
      expect(res.status).toBe(200);
      expect(requestsSince(before)).toBe(2);
      const charges = await expectExactLedger(gw, c.accountId, CREDITS);
      expect([...charges.values()]).toEqual([20 * 3 + 7 * 15]);
    });
  }

  test("429 with retry-after: 1 → the gateway waits it out and retries: 200, charged once", async () => {
    const c = await gw.customer(CREDITS);
    const before = upstream.requests.length;
    const t0 = performance.now();
    const res = await chat(gw.url, c.key, {
      model: "grok-4",
      messages: user(),
      stream: true,
      mock: { status: 429, retry_after: "1", error_body: { error: { message: "slow down" } }, fail_times: 1, prompt_tokens: 10, completion_tokens: 4 },
    });
    expect(res.status).toBe(200);
    const sse = await readSseTimed(res);
    expect(sse.done).toBe(true);
    const took = elapsedSince(t0);
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(FAST.retry.budget_ms + 1_000);
    expect(requestsSince(before)).toBe(2);
    const charges = await expectExactLedger(gw, c.accountId, CREDITS);
    expect([...charges.values()]).toEqual([10 * 3 + 4 * 15]);
  });

  test("429 with a retry-after beyond the retry budget → 503 at once, retry-after passed on", async () => {
    const c = await gw.customer(CREDITS);
    const before = upstream.requests.length;
    const t0 = performance.now();
    const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { status: 429, retry_after: "30", error_body: { error: { message: "slow down" } } } });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("30");
    expect(((await res.json()) as Err).error.code).toBe("upstream_overloaded");
    expect(elapsedSince(t0)).toBeLessThan(1_500);
    expect(requestsSince(before)).toBe(1);
    expect((await expectExactLedger(gw, c.accountId, CREDITS)).size).toBe(0);
  });

  test("503 with a retry-after beyond the retry budget → 503 at once, retry-after passed on (Anthropic's clients: 529); without one, none is made up", async () => {
    const c = await gw.customer(CREDITS);
    const unavailable = { status: 503, retry_after: "30", error_body: { code: "Unavailable", error: "try later" } };
    const before = upstream.requests.length;
    const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: unavailable });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("30");
    expect(((await res.json()) as Err).error).toMatchObject({ type: "server_error", code: "upstream_unavailable" });
    expect(requestsSince(before)).toBe(1);
    const anthropic = await fetch(`${gw.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": c.key, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model: "grok-4", max_tokens: 5, messages: user(), mock: unavailable }),
    });
    expect(anthropic.status).toBe(529);
    expect(anthropic.headers.get("retry-after")).toBe("30");
    expect(((await anthropic.json()) as { error: { type: string } }).error.type).toBe("overloaded_error");
    const bare = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { status: 503 } });
    expect(bare.status).toBe(503);
    expect(bare.headers.get("retry-after")).toBeNull();
    await bare.text();
    expect((await expectExactLedger(gw, c.accountId, CREDITS)).size).toBe(0);
  });

  test("429 with retry-after as an HTTP date or fractional seconds → the 503 passes on that wait", async () => {
    const c = await gw.customer(CREDITS);
    for (const [retryAfter, expected] of [[new Date(Date.now() + 45_000).toUTCString(), [43, 44, 45]], ["20.5", [21]]] as [string, number[]][]) {
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { status: 429, retry_after: retryAfter, error_body: { error: { message: "slow down" } } } });
      expect(res.status).toBe(503);
      expect(expected).toContain(Number(res.headers.get("retry-after")));
      expect(((await res.json()) as Err).error.code).toBe("upstream_overloaded");
    }
    expect((await expectExactLedger(gw, c.accountId, CREDITS)).size).toBe(0);
  });

  test("a client that leaves while the gateway waits to retry is not charged, and no retry is made", async () => {
    const c = await gw.customer(CREDITS);
    const before = upstream.requests.length;
    const ctrl = new AbortController();
    const pending = chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { status: 503, retry_after: "2" } }, { signal: ctrl.signal }).catch(() => null);
    expect(await until(() => upstream.requests.length > before)).toBe(true);
    await Bun.sleep(200);
    ctrl.abort();
    await pending;
    expect(await until(() => gw.runtime.deps.store.sqlite.query("SELECT 1 FROM usage_log WHERE account_id = ?").get(c.accountId) !== null)).toBe(true);
    expect((await expectExactLedger(gw, c.accountId, CREDITS)).size).toBe(0);
    await Bun.sleep(2_200);
    expect(requestsSince(before)).toBe(1);
  });

  test("connection refused → 502 upstream_unreachable within a second; nothing charged", async () => {
    const g2 = await gatewayOver([{ id: "dead", url: await deadUrl() }]);
    try {
      const c = await g2.customer(CREDITS);
      const t0 = performance.now();
      const res = await chat(g2.url, c.key, { model: "grok-4", messages: user(), stream: true });
      expect(res.status).toBe(502);
      expect(((await res.json()) as Err).error).toMatchObject({ type: "server_error", code: "upstream_unreachable" });
      expect(elapsedSince(t0)).toBeLessThan(1_500);
      expect((await expectExactLedger(g2, c.accountId, CREDITS)).size).toBe(0);
    } finally {
      await g2.stop();
    }
  });

  const xaiBodies: [string, number, unknown, number, string][] = [
    ["bad upstream key (400)", 400, { code: "Client specified an invalid argument", error: "Incorrect API key provided: xa***yz. You can obtain an API key from https://console.x.ai." }, 502, "upstream_auth_error"],
    ["upstream credits exhausted (429)", 429, { code: "Some resource has been exhausted", error: "Your team has either used all available credits or reached its monthly spending limit." }, 503, "upstream_unavailable"],
    ["permission denied (403)", 403, { code: "The caller does not have permission to execute the specified operation", error: "Team is blocked." }, 502, "upstream_auth_error"],
    ["internal error (500)", 500, { code: "Internal error", error: "Service temporarily unavailable. The model is overloaded." }, 502, "upstream_error"],
  ];
  for (const [name, status, errorBody, expected, code] of xaiBodies) {
    test(`xAI error body: ${name} → ${expected} ${code}, OpenAI envelope, no key leaked, nothing charged`, async () => {
      const c = await gw.customer(CREDITS);
      const before = upstream.requests.length;
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { status, error_body: errorBody } });
      expect(res.status).toBe(expected);
      expect(res.headers.get("content-type")).toContain("application/json");
      const body = (await res.json()) as Err;
      expect(body.error).toMatchObject({ type: "server_error", code });
      expect(JSON.stringify(body)).not.toContain("upstream-key");
      expect(JSON.stringify(body)).not.toContain("xa***yz");
      // A refused key is not retried with the same key (one key here); transient errors are.
      expect(requestsSince(before)).toBe(status === 500 ? 2 : 1);
      expect((await expectExactLedger(gw, c.accountId, CREDITS)).size).toBe(0);
    });
  }
});

describe("after the first byte: never retried, an error event, charged what was delivered", () => {
  const midStream: [string, Record<string, unknown>, string][] = [
    ["hang mid-stream", { hang: "body", after_chunks: 3 }, "upstream_timeout"],
    ["connection dropped mid-stream", { drop_after_chunks: 3 }, "upstream_stream_broken"],
    ["malformed SSE mid-stream", { malformed_after_chunks: 3 }, "upstream_malformed"],
  ];
  for (const [name, mock, code] of midStream) {
    test(`${name} → error event ${code}, no [DONE], charged prompt + delivered (estimated), no retry`, async () => {
      const c = await gw.customer(CREDITS);
      const before = upstream.requests.length;
      const aborted = upstream.aborted;
      const body = { model: "grok-4", messages: user("Tell me about tollgates"), stream: true, mock: { ...mock, completion_tokens: 30 } };
      const t0 = performance.now();
      const res = await chat(gw.url, c.key, body);
      expect(res.status).toBe(200);
      const sse = await readSseTimed(res);
      const took = elapsedSince(t0);
      expect(sse.done).toBe(false);
      const last = sse.events.at(-1) as Err;
      expect(last.error).toMatchObject({ type: "server_error", code });
      // Within the gap timeout plus a second (the other faults show at once).
      expect(took).toBeLessThan(FAST.timeouts.stream_gap_ms + 1_000);
      expect(requestsSince(before)).toBe(1);
      const charges = await expectExactLedger(gw, c.accountId, CREDITS);
      const requestId = res.headers.get("x-request-id")!;
      expect(charges.get(requestId)).toBe(cutStreamCost(body, sse.events));
      expect(usageRow(gw.runtime.deps.store.sqlite, requestId)).toMatchObject({ estimated: 1, error_code: code });
      // A stream the gateway gave up on waiting for is closed upstream too.
      if (code === "upstream_timeout") expect(await until(() => upstream.aborted > aborted)).toBe(true);
    });
  }

  test("the total timeout cuts a stream that keeps trickling", async () => {
    const g2 = await gatewayOver([{ id: "fake", url: upstream.url }], { timeouts: { ...FAST.timeouts, total_ms: 1_200 } });
    try {
      const c = await g2.customer(CREDITS);
      const body = { model: "grok-4", messages: user(), stream: true, mock: { chunk_delay_ms: 200, completion_tokens: 40 } };
      const t0 = performance.now();
      const res = await chat(g2.url, c.key, body);
      const sse = await readSseTimed(res);
      expect(elapsedSince(t0)).toBeLessThan(1_200 + 1_000);
      expect(sse.done).toBe(false);
      expect((sse.events.at(-1) as Err).error.code).toBe("upstream_timeout");
      const charges = await expectExactLedger(g2, c.accountId, CREDITS);
      expect(charges.get(res.headers.get("x-request-id")!)).toBe(cutStreamCost(body, sse.events));
    } finally {
      await g2.stop();
    }
  });
});

describe("slow but healthy upstreams are not cut", () => {
  test("a first token slower than the server's idle timeout still streams to [DONE] and is charged exactly", async () => {
    const g2 = await gatewayOver([{ id: "fake", url: upstream.url }], {
      idle_timeout_seconds: 1,
      timeouts: { connect_ms: 500, first_byte_ms: 5_000, stream_gap_ms: 5_000, total_ms: 9_000 },
    });
    try {
      const c = await g2.customer(CREDITS);
      const res = await chat(g2.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { delay_ms: 2_200, prompt_tokens: 12, completion_tokens: 5 } });
      expect(res.status).toBe(200);
      const sse = await readSseTimed(res);
      expect(sse.done).toBe(true);
      const non = await chat(g2.url, c.key, { model: "grok-4", messages: user(), mock: { delay_ms: 2_200, prompt_tokens: 12, completion_tokens: 5 } });
      expect(non.status).toBe(200);
      const gaps = await chat(g2.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { chunk_delay_ms: 1_300, prompt_tokens: 12, completion_tokens: 2 } });
      expect((await readSseTimed(gaps)).done).toBe(true);
      const charges = await expectExactLedger(g2, c.accountId, CREDITS);
      expect([...charges.values()]).toEqual([12 * 3 + 5 * 15, 12 * 3 + 5 * 15, 12 * 3 + 2 * 15]);
    } finally {
      await g2.stop();
    }
  });
});
