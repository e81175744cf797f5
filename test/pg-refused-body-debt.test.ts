/**
 * A body refused after reading costs its tokens (bytes / 4), and a token bucket in debt refuses
 * the next bodies before they are read. On PostgreSQL the buckets are grants taken from shared
 * rows, so the debt is this instance's: what proves it behaves as on one process, where a
 * customer sending refused bodies past its TPM must not have them read and parsed at any rate:
 * the next bodies are 429 before reading (no read at all, not a 404 after it), the debt counts
 * the whole shared bucket (the same retry-after as SQLite: it is paid into the shared bucket, no
 * free pass) and it is waited out (no lockout beyond it). A 429 of the limits after the body costs
 * its request too (a TPM 429 is the client's to steer), so bodies past the RPM are refused unread.
 * The debt's 429 reports the shared buckets in its headers, as every other answer does, and the
 * debt stays within a minute whichever instance reads the body.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import type { GatewayClient } from "./support/gateway";
import { pgOverFake, sqliteOverFake } from "./support/pg-gateways";

setDefaultTimeout(60_000);
// 100 RPM, 10,000 TPM: a 40 KB refused body is a minute's tokens. At 30 RPM a request refills every 2 s.
const PLANS = { default: { rpm: 100, tpm: 10_000, concurrency: 10 } };
const one = sqliteOverFake({ plans: PLANS });
// Two instances: the tests use the first, but one that reads a refused body on each.
const pg = pgOverFake(2, { plans: PLANS });

/** An unknown model and `chars` of prompt: read, parsed, refused 404 (its bytes / 4 in tokens). */
const refused = (chars: number) => JSON.stringify({ model: "no-such-model", max_tokens: 5, messages: [{ role: "user", content: "x".repeat(chars) }] });
const SMALL = JSON.stringify({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "hi" }] });

async function post(gw: GatewayClient, key: string, body: string): Promise<Response> {
  const r = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body });
  await r.arrayBuffer();
  return r;
}

for (const store of ["SQLite", "PostgreSQL"] as const) {
  const gateway = (): GatewayClient => (store === "SQLite" ? one.sqlite : pg.cluster.gateways[0]!);
  describe(store, () => {
    test("after one refused body of a minute's tokens, the next bodies are refused before they are read (429)", async () => {
      const gw = gateway();
      const c = await gw.customer(10_000_000);
      const s: number[] = [];
      for (let i = 0; i < 10; i++) s.push((await post(gw, c.key, refused(40_000))).status);
      expect({ first: s[0], readAndRefusedAfter: s.slice(1).filter((x) => x === 404).length, refusedBefore: s.slice(1).filter((x) => x === 429).length }).toEqual({
        first: 404,
        readAndRefusedAfter: 0,
        refusedBefore: 9,
      });
    });

    test("the debt beyond the bucket is waited out at the refill rate, then the key is served", async () => {
      const gw = gateway();
      const c = await gw.customer(10_000_000);
      // About 10,400 tokens into a full bucket of 10,000: 400 tokens of debt, 2.4 s at 10,000 TPM.
      expect((await post(gw, c.key, refused(41_600))).status).toBe(404);
      const refusedNow = await post(gw, c.key, SMALL);
      expect(refusedNow.status).toBe(429);
      const wait = Number(refusedNow.headers.get("retry-after-ms"));
      expect(wait).toBeGreaterThan(2_000);
      expect(wait).toBeLessThan(2_700);
      await Bun.sleep(wait + 600);
      expect((await post(gw, c.key, SMALL)).status).toBe(200);
    });

    // A TPM 429 is one the client steers (its body's estimate against what the bucket has left):
    // it costs its request like any refused body, so bodies read past the RPM are refused unread.
    test("bodies refused with a TPM 429 after reading stay within the key's RPM", async () => {
      const gw = gateway();
      const c = await gw.customer(10_000_000);
      expect((await gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 3, tpm: 10_000 } })).status).toBe(200);
      // One refused body of ~9,000 tokens: a request and ~9,000 tokens used, no debt.
      expect((await post(gw, c.key, JSON.stringify({ model: "no-such-model", messages: [{ role: "user", content: "x".repeat(36_000) }] }))).status).toBe(404);
      // Bodies of ~4,000 tokens (within the capacity, above what is left): 429 after reading, at most the RPM's two left.
      let readAndRefused = 0;
      for (let i = 0; i < 30; i++) {
        const body = JSON.stringify({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "y".repeat(16_000) }] });
        const r = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" }, body });
        expect(r.status).toBe(429);
        // Admission's own TPM refusal names what was requested: that body was read.
        if (/TPM\): Limit 10000, Remaining \d+, Requested [1-9]/.test(((await r.json()) as { error: { message: string } }).error.message)) readAndRefused++;
      }
      const after = await post(gw, c.key, JSON.stringify({ model: "no-such-model", messages: [{ role: "user", content: "z" }] }));
      expect({ readAndRefused, lastStatus: after.status }).toEqual({ readAndRefused: 2, lastStatus: 429 });
    });
  });
}

/** x-ratelimit-reset-* ("1m0s", "0.6s", "120ms") in ms. */
const resetMs = (v: string | null) => {
  const m = /^(?:(\d+)m)?(?:([\d.]+)s)?(?:(\d+)ms)?$/.exec(v ?? "");
  return m ? Number(m[1] ?? 0) * 60_000 + Number(m[2] ?? 0) * 1000 + Number(m[3] ?? 0) : -1;
};

// The debt's 429 comes before the body is read; its headers must count the shared buckets (as every
// other answer's do), not the grant this instance holds of them.
test("the debt's 429 reports the requests left as on one process (the shared buckets, not the instance's grant)", async () => {
  const scenario = async (gw: GatewayClient) => {
    const c = await gw.customer(10_000_000);
    const first = (await post(gw, c.key, refused(80_000))).status;
    await Bun.sleep(200);
    const r = await post(gw, c.key, SMALL);
    return { first, status: r.status, remainingRequests: r.headers.get("x-ratelimit-remaining-requests"), resetRequestsUnder2s: resetMs(r.headers.get("x-ratelimit-reset-requests")) < 2_000 };
  };
  const onSqlite = await scenario(one.sqlite);
  expect(onSqlite).toEqual({ first: 404, status: 429, remainingRequests: "99", resetRequestsUnder2s: true });
  expect(await scenario(pg.cluster.gateways[0]!)).toEqual(onSqlite);
});

// Instance 1 never took from the key's shared bucket, which instance 0 emptied: its guess of it as
// full must not double the debt (a retry-after of 120 s, past the 60 s the OpenAI SDKs honour).
test("PostgreSQL, two instances: a refused body's debt stays within a minute whichever instance reads it", async () => {
  const [a, b] = [pg.cluster.gateways[0]!, pg.cluster.gateways[1]!];
  const c = await a.customer(10_000_000);
  expect((await post(a, c.key, refused(80_000))).status).toBe(404);
  const onA = await post(a, c.key, SMALL);
  // Instance 0 has paid what the shared bucket held (maintain, every second, pays the rest).
  await Bun.sleep(300);
  expect((await post(b, c.key, refused(80_000))).status).toBe(404);
  const onB = await post(b, c.key, SMALL);
  expect(onA.status).toBe(429);
  expect(Number(onA.headers.get("retry-after-ms"))).toBeLessThanOrEqual(60_500);
  expect(onB.status).toBe(429);
  expect(Number(onB.headers.get("retry-after"))).toBeLessThanOrEqual(61);
});
