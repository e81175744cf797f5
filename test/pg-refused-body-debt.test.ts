/**
 * A body refused after reading costs its tokens (bytes / 4), and a token bucket in debt refuses
 * the next bodies before they are read. On PostgreSQL the buckets are grants taken from shared
 * rows, so the debt is this instance's: what proves it behaves as on one process, where a
 * customer sending refused bodies past its TPM must not have them read and parsed at any rate:
 * the next bodies are 429 before reading (no read at all, not a 404 after it), the debt counts
 * the whole shared bucket (the same retry-after as SQLite: it is paid into the shared bucket, no
 * free pass) and it is waited out (no lockout beyond it).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startGateway, type Gateway, type GatewayClient } from "./support/gateway";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { pgOverFake } from "./support/pg-gateways";

setDefaultTimeout(60_000);
// 100 RPM, 10,000 TPM: a 40 KB refused body is a minute's tokens.
const PLANS = { default: { rpm: 100, tpm: 10_000, concurrency: 10 } };
let up: MockUpstream;
let sqlite: Gateway;
beforeAll(async () => {
  up = startFakeUpstream();
  sqlite = await startGateway({ config: { ...fakeCatalogue(up.url), ...SINGLE_SHOT, log_format: "off", plans: PLANS } });
});
afterAll(async () => {
  await sqlite.stop();
  await up.stop();
});
const pg = pgOverFake(1, { plans: PLANS });

/** An unknown model and `chars` of prompt: read, parsed, refused 404 (its bytes / 4 in tokens). */
const refused = (chars: number) => JSON.stringify({ model: "no-such-model", max_tokens: 5, messages: [{ role: "user", content: "x".repeat(chars) }] });
const SMALL = JSON.stringify({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "hi" }] });

async function post(gw: GatewayClient, key: string, body: string): Promise<Response> {
  const r = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body });
  await r.arrayBuffer();
  return r;
}

for (const store of ["SQLite", "PostgreSQL"] as const) {
  const gateway = (): GatewayClient => (store === "SQLite" ? sqlite : pg.cluster.gateways[0]!);
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
  });
}
