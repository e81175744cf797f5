/**
 * Three compiled gateways on one PostgreSQL database: money exact across instances (leases),
 * limits shared, changes seen everywhere within a second, nothing lost when one is killed.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import type { BinaryGateway } from "./support/gateway";
import { books, startPgGateways, type PgCluster } from "./support/pg-gateways";

setDefaultTimeout(180_000);

let upstream: MockUpstream;
let cluster: PgCluster;
let gws: BinaryGateway[];
/** Costs exactly its hold: no input price, max_tokens = the completion the fake upstream reports. */
const FLAT = { id: "flat", provider: "fake", input_price: 0, cached_input_price: 0, output_price: 10, max_output_tokens: 100 };
const flatBody = { model: "flat", max_tokens: 100, messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 0, completion_tokens: 100 } };
const FLAT_COST = 100 * 10;

beforeAll(async () => {
  upstream = startFakeUpstream();
  const catalogue = fakeCatalogue(upstream.url);
  cluster = await startPgGateways(3, {
    config: {
      ...catalogue, ...SINGLE_SHOT, models: [...catalogue.models, FLAT], log_format: "off", max_concurrent_streams: 2_000,
      plans: { default: { rpm: 1_000_000, tpm: 1_000_000_000, concurrency: 1_000 } },
    },
  });
  gws = cluster.gateways;
});

afterAll(async () => {
  await cluster?.stop();
  await upstream?.stop();
});

const post = (gw: BinaryGateway, key: string, body: unknown, signal?: AbortSignal) =>
  fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body), signal });

describe("three instances on PostgreSQL", () => {
  test("200 concurrent requests over 3 instances on a balance for exactly 10: exactly 10 admitted, none negative", async () => {
    const c = await gws[0]!.customer(10 * FLAT_COST);
    const statuses = await Promise.all(Array.from({ length: 200 }, async (_, i) => (await post(gws[i % 3]!, c.key, flatBody)).status));
    expect(statuses.filter((s) => s === 200).length).toBe(10);
    expect(statuses.filter((s) => s !== 200 && s !== 402)).toEqual([]);
    expect(await gws[1]!.balance(c.accountId)).toBe(0);
    const b = await books(cluster.sql);
    expect(b.mismatched).toBe(0);
    expect(b.negative).toBe(0);
  });

  test("a revoked key is refused by every instance within a second", async () => {
    const c = await gws[0]!.customer(1_000_000);
    for (const g of gws) expect((await post(g, c.key, flatBody)).status).toBe(200);
    const revoked = await gws[1]!.admin(`/admin/keys/${c.keyId}`, { method: "DELETE" });
    expect(revoked.status).toBe(200);
    const t0 = performance.now();
    const seen = await Promise.all(gws.map(async (g) => {
      while ((await g.me(c.key)).status !== 401) await Bun.sleep(20);
      return performance.now() - t0;
    }));
    expect(Math.max(...seen)).toBeLessThan(1_000);
  });

  test("a key's RPM holds across instances (never above the bucket, a 429 says when to retry)", async () => {
    const c = await gws[0]!.customer(10_000_000);
    expect((await gws[0]!.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 60 } })).status).toBe(200);
    await Bun.sleep(300);
    const t0 = performance.now();
    const res = await Promise.all(Array.from({ length: 180 }, (_, i) => post(gws[i % 3]!, c.key, flatBody)));
    const elapsed = performance.now() - t0;
    const ok = res.filter((r) => r.status === 200).length;
    const limited = res.filter((r) => r.status === 429);
    // The bucket (60) plus what refilled meanwhile; at most one batch (3) per other instance kept back.
    expect(ok).toBeLessThanOrEqual(60 + Math.ceil(elapsed / 1000));
    expect(ok).toBeGreaterThanOrEqual(60 - 2 * 3);
    expect(limited.length).toBe(180 - ok);
    for (const r of limited) expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
