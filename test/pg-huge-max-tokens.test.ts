/**
 * On PostgreSQL a hold is planned against the whole of what could be leased (MAX_SAFE_INTEGER). A
 * request with max_tokens = 2^53-1 on a cheap model (output under 2 micros a token and choice)
 * goes through the search for the largest affordable output, which must stay within exact
 * integers: it is answered, and the instance stays alive.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startPgGateways, type PgCluster } from "./support/pg-gateways";

setDefaultTimeout(240_000);

test("unit: planHold returns (or throws) for max_tokens = 2^53-1 against UNLIMITED (run in a child, 5 s)", () => {
  const src = `
    import { planHold } from ${JSON.stringify(require.resolve("../src/gateway/hold"))};
    const m = { id: "cheap", input_price: 300000, cached_input_price: 75000, output_price: 500000, image_price: 0, tool_prices: {}, pricing: "list", markup_percent: 0, long_context: null, reasoning_allowance_tokens: 0, max_output_tokens: 4000, tool_call_allowance: 5 };
    try { planHold(m, { promptUpper: 20, promptEstimate: 10, maxOutput: Number.MAX_SAFE_INTEGER, n: 3, tools: [] }, { amount: Number.MAX_SAFE_INTEGER, refuse: () => new Error("r") }); } catch {}
    console.log("returned");`;
  const r = Bun.spawnSync(["/usr/bin/bun", "-e", src], { timeout: 5_000 });
  expect(r.stdout.toString()).toContain("returned");
});

let upstream: MockUpstream;
let cluster: PgCluster;
beforeAll(async () => {
  upstream = startFakeUpstream();
  const cat = fakeCatalogue(upstream.url);
  cluster = await startPgGateways(1, { entry: "source", config: { ...cat, ...SINGLE_SHOT, log_format: "off" } });
});
afterAll(async () => {
  // A spinning instance ignores SIGTERM: kill it.
  for (const g of cluster?.gateways ?? []) await g.stop("SIGKILL");
  await cluster?.sql.close();
  await upstream?.stop();
});

test("PostgreSQL: a request with max_tokens = 2^53-1, n = 3 on 'cheap' is answered and the instance stays alive", async () => {
  const [g] = cluster.gateways;
  const c = await g!.customer(1_000_000);
  const body = JSON.stringify({ model: "cheap", n: 3, max_tokens: Number.MAX_SAFE_INTEGER, messages: [{ role: "user", content: "hi" }] });
  const res = await fetch(`${g!.url}/v1/chat/completions`, {
    method: "POST", headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" }, body, signal: AbortSignal.timeout(10_000),
  }).then((r) => r.status, (e) => `no answer: ${e.name}`);
  const health = await fetch(`${g!.url}/healthz`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.status, (e) => `no answer: ${e.name}`);
  expect(health).toBe(200);
  expect(res).toBe(402);
});
