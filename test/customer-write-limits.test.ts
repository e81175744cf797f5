/**
 * The customer routes that write, and that a key could loop, are requests of the key's and
 * account's rate limits, as every metered route is:
 * - PUT /v1/alerts/low-balance: past the limits a 429 with the x-ratelimit-* headers, and no
 *   write, no audit row; the threshold the account already has is a read (no write, no audit
 *   row); a change is an ordinary commit, not an fsynced one (it moves no money).
 * - POST /v1/credits/redeem: replaying a code the account redeemed succeeds every time, so it
 *   too counts against the limits.
 * The OpenAPI spec declares both routes' 429.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, spyOn, test } from "bun:test";
import OpenAI from "openai";
import { startGateway, TestClock, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
let gw: Gateway;
beforeAll(async () => {
  // Frozen: no bucket refills during a test.
  gw = await startGateway({ clock: new TestClock() });
});
afterAll(async () => {
  await gw?.stop();
});

const put = (key: string, micros: number | null) =>
  fetch(`${gw.url}/v1/alerts/low-balance`, {
    method: "PUT",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ threshold_micros: micros }),
  });
const auditRows = (c: Customer) =>
  (gw.runtime.deps.store.sqlite.query("SELECT count(*) AS n FROM audit_log WHERE actor = ?").get(`key:${c.keyId}`) as { n: number }).n;
const limitKey = async (c: Customer, rpm: number) => expect((await gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm } })).status).toBe(200);

describe("PUT /v1/alerts/low-balance", () => {
  test("a key limited to 5 requests a minute changes the threshold 5 times of 300 PUTs: 5 audit rows, the rest its 429", async () => {
    const c = await gw.customer(10_000_000);
    await limitKey(c, 5);
    const statuses: Record<number, number> = {};
    let refused: Response | null = null;
    for (let i = 0; i < 300; i++) {
      const r = await put(c.key, 1_000 + (i % 2));
      if (i === 0) expect(r.headers.get("x-ratelimit-limit-requests")).toBe("5");
      if (r.status === 429 && !refused) refused = r;
      else await r.arrayBuffer();
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
    expect({ statuses, audit: auditRows(c) }).toEqual({ statuses: { 200: 5, 429: 295 }, audit: 5 });
    expect(refused!.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(Number(refused!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await refused!.json()) as { error: { code: string } }).error.code).toBe("rate_limit_exceeded");
  });

  test("the threshold the account already has is a read: no write, no audit row; a change is not fsynced", async () => {
    const c = await gw.customer(10_000_000);
    const db = gw.runtime.deps.store.sqlite;
    const settings = () => db.query("SELECT threshold_micros, updated_at FROM alert_settings WHERE account_id = ?").all(c.accountId);
    // No threshold of its own, and none asked for: nothing is written.
    for (let i = 0; i < 20; i++) expect((await put(c.key, null)).status).toBe(200);
    expect({ rows: settings(), audit: auditRows(c) }).toEqual({ rows: [], audit: 0 });

    const durable = spyOn(gw.runtime.deps.store, "durable");
    try {
      const first = await put(c.key, 2_000_000);
      expect(((await first.json()) as { threshold_micros: number }).threshold_micros).toBe(2_000_000);
      const written = settings();
      gw.clock.add(1_000);
      for (let i = 0; i < 20; i++) expect((await put(c.key, 2_000_000)).status).toBe(200);
      expect({ rows: settings(), audit: auditRows(c), fsynced: durable.mock.calls.length }).toEqual({ rows: written, audit: 1, fsynced: 0 });
    } finally {
      durable.mockRestore();
    }
    // Back to the default is a change again.
    expect((await put(c.key, null)).status).toBe(200);
    expect(auditRows(c)).toBe(2);
  });
});

describe("POST /v1/credits/redeem", () => {
  test("replaying a redeemed code counts against the key's limits, as the OpenAI SDK sees it", async () => {
    const c = await gw.customer(0);
    await limitKey(c, 5);
    const made = (await (await gw.admin("/admin/codes", { body: { count: 1, amount_micros: 5_000_000 } })).json()) as { codes: { code: string }[] };
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: c.key, maxRetries: 0 });
    const redeem = () => client.post("/credits/redeem", { body: { code: made.codes[0]!.code } }) as Promise<{ replayed: boolean }>;
    const replays = [];
    for (let i = 0; i < 5; i++) replays.push((await redeem()).replayed);
    expect(replays).toEqual([false, true, true, true, true]);
    const err = (await redeem().catch((e) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect([err.code, err.headers?.get("x-ratelimit-limit-requests")]).toEqual(["rate_limit_exceeded", "5"]);
    expect(await gw.balance(c.accountId)).toBe(5_000_000);
  });
});

test("the spec declares the 429 of both routes", async () => {
  const spec = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { responses: Record<string, any> }>> };
  for (const [path, method] of [["/v1/alerts/low-balance", "put"], ["/v1/credits/redeem", "post"]] as const) {
    const responses = spec.paths[path]![method]!.responses;
    expect({ path, statuses: Object.keys(responses) }).toEqual({ path, statuses: expect.arrayContaining(["200", "429"]) });
    expect(responses["429"].content["application/json"].schema.required).toEqual(["error"]);
  }
});
