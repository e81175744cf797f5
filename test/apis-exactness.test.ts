/**
 * Every endpoint at once: 600 concurrent mixed requests (chat, completions, Responses, Messages,
 * images, tokenize; JSON and streams; clients that leave; upstream errors; tool calls; a
 * cost-plus model) against the compiled binary. Afterwards every balance is its credit minus the
 * sum of its charges to the micro, nothing is held, each charge equals its usage row, and no
 * customer ever saw the upstream's own cost.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkLedger } from "../src/money/ledger";
import { SqliteStore } from "../src/store/sqlite-store";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway, type Customer } from "./support/gateway";

setDefaultTimeout(120_000);

let upstream: MockUpstream;
let dir: string;
let gw: BinaryGateway;
const customers: Customer[] = [];
const CREDITS = 50_000_000;

beforeAll(async () => {
  upstream = startFakeUpstream({ defaults: { chunk_delay_ms: 2 } });
  dir = mkdtempSync(join(tmpdir(), "tollgate-apis-"));
  gw = await startBinaryGateway({ dir, dbPath: "t.db", config: { ...fakeCatalogue(upstream.url), ...SINGLE_SHOT, log_format: "off", max_concurrent_streams: 2_000,
    // 100 requests per key at once: above the default plan's concurrency, which is not under test here.
    plans: { default: { rpm: 1_000_000, tpm: 1_000_000_000, concurrency: 1_000 } } } });
  for (let i = 0; i < 6; i++) customers.push(await gw.customer(CREDITS));
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Call = { path: string; body: Record<string, unknown>; stream: boolean; abortAfterMs?: number; plus: boolean };

/** A random request of any API; one in ten fails upstream, one in eight is cut by its client. */
function randomCall(i: number): Call {
  const r = (n: number) => (i * 7919 + n * 104729) % 97;
  const fail = r(1) % 10 === 0 ? { status: 500 } : {};
  const stream = r(2) % 2 === 0;
  const abortAfterMs = r(3) % 8 === 0 ? 5 + (r(4) % 40) : undefined;
  const model = r(5) % 5 === 0 ? "grok-4-plus" : "grok-4";
  const mock = { prompt_tokens: 10 + (r(6) % 50), completion_tokens: 5 + (r(7) % 30), ...(r(8) % 4 === 0 ? { tools: { web_search: 1 + (r(9) % 3) } } : {}), ...fail };
  const kind = i % 6;
  const plus = model === "grok-4-plus";
  if (kind === 0) return { path: "/v1/chat/completions", body: { model, messages: [{ role: "user", content: "hi" }], stream, mock }, stream, abortAfterMs, plus };
  if (kind === 1) return { path: "/v1/completions", body: { model, prompt: "hi", max_tokens: 60, stream, mock }, stream, abortAfterMs, plus };
  if (kind === 2) return { path: "/v1/responses", body: { model, input: "hi", stream, tools: [{ type: "web_search" }], mock }, stream, abortAfterMs, plus };
  if (kind === 3) return { path: "/v1/messages", body: { model, max_tokens: 60, messages: [{ role: "user", content: "hi" }], stream, mock }, stream, abortAfterMs, plus };
  if (kind === 4) return { path: "/v1/images/generations", body: { model: "grok-imagine-image", prompt: "x", n: 1 + (r(10) % 3), mock: fail }, stream: false, plus: false };
  return { path: "/v1/tokenize-text", body: { model: "grok-4", text: "a b c" }, stream: false, plus: false };
}

/** Sends a call; returns the cost fields the customer saw (ticks), and its request id. */
async function send(c: Customer, call: Call): Promise<{ requestId: string | null; seenTicks: number[] }> {
  const ac = new AbortController();
  if (call.abortAfterMs !== undefined) setTimeout(() => ac.abort(), call.abortAfterMs);
  try {
    const res = await fetch(gw.url + call.path, {
      method: "POST",
      headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify(call.body),
      signal: ac.signal,
    });
    const text = await res.text();
    const seenTicks = [...text.matchAll(/"cost_in_usd_ticks":(\d+)/g)].map((m) => Number(m[1]));
    return { requestId: res.headers.get("x-request-id"), seenTicks };
  } catch {
    return { requestId: null, seenTicks: [] };
  }
}

describe("600 concurrent mixed requests over every endpoint", () => {
  test("balances, charges and usage rows agree to the micro; nothing held; no upstream cost shown", async () => {
    const calls = Array.from({ length: 600 }, (_, i) => ({ c: customers[i % customers.length]!, call: randomCall(i) }));
    const results = await Promise.all(calls.map(({ c, call }) => send(c, call)));
    await Bun.sleep(500);
    expect(await gw.stop()).toBe(0);

    const store = new SqliteStore(gw.dbPath!);
    try {
      expect(await checkLedger(store)).toEqual([]);
      expect(store.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM credit_holds").get()!.n).toBe(0);
      const charge = store.sqlite.query<{ c: number | null }, [string]>("SELECT -amount_micros AS c FROM ledger_entries WHERE request_id = ? AND kind = 'charge'");
      const usage = store.sqlite.query<{ cost_micros: number; endpoint: string }, [string]>("SELECT cost_micros, endpoint FROM usage_log WHERE request_id = ?");
      for (const cu of customers) {
        const { b } = store.sqlite.query<{ b: number }, [string]>("SELECT balance_micros AS b FROM accounts WHERE id = ?").get(cu.accountId)!;
        const { s } = store.sqlite.query<{ s: number }, [string]>("SELECT coalesce(sum(-amount_micros), 0) AS s FROM ledger_entries WHERE account_id = ? AND kind = 'charge'").get(cu.accountId)!;
        expect(b).toBe(CREDITS - s);
      }
      let charged = 0;
      const endpoints = new Set<string>();
      for (const [i, r] of results.entries()) {
        if (!r.requestId) continue;
        const row = usage.get(r.requestId);
        expect(row, `usage row of request ${i}`).not.toBeNull();
        endpoints.add(row!.endpoint);
        const c = charge.get(r.requestId)?.c ?? 0;
        expect(row!.cost_micros).toBe(c);
        if (c > 0) charged++;
        // What the customer saw as the cost is what it was charged, never the upstream's figure.
        for (const ticks of r.seenTicks) expect(ticks).toBe(c * 10_000);
      }
      expect(charged).toBeGreaterThan(300);
      expect([...endpoints].sort()).toEqual(["chat.completions", "completions", "images.generations", "messages", "responses", "tokenize"]);
    } finally {
      store.close();
    }
  });
});
