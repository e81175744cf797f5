import { parseSse } from "./chat";
/** Helpers for the resilience tests: gateways over several fake upstreams, and exact-ledger checks. */
import { expect } from "bun:test";
import type { Database } from "bun:sqlite";
import { promptEstimate } from "../../src/gateway/estimate";
import { deltaTokens } from "../../src/gateway/tap";
import { checkLedger } from "../../src/money/ledger";
import { costMicros } from "../../src/gateway/providers/usage";
import { until } from "./chat";
import { startGateway, type Gateway } from "./gateway";

/** grok-4 test prices (micros per token): input 3, cached 0.75, output 15. */
export const PRICES = { input_price: 3_000_000, cached_input_price: 750_000, output_price: 15_000_000 };
const MODEL_PRICES = { input_price: 3, cached_input_price: 0.75, output_price: 15, max_output_tokens: 1000 };

/** Small limits so that every fault resolves within a second or two. */
export const FAST = {
  timeouts: { connect_ms: 500, first_byte_ms: 800, stream_gap_ms: 800, total_ms: 6_000 },
  retry: { max_attempts: 2, budget_ms: 4_000, base_ms: 20 },
  breaker: { failures: 1000, min_requests: 1_000_000, window_ms: 60_000, cooldown_ms: 1_000 },
  hold_ttl_seconds: 10,
};

export interface ProviderSpec {
  id: string;
  url: string;
  keys?: string[];
  priority?: number;
  weight?: number;
}

/** A gateway whose model "grok-4" is served by the given providers (deployments in that order). */
export function gatewayOver(providers: ProviderSpec[], overrides: Record<string, unknown> = {}): Promise<Gateway> {
  return startGateway({
    config: {
      ...FAST,
      providers: providers.map((p) => ({ id: p.id, base_url: p.url, kind: "xai", api_keys: p.keys ?? [`${p.id}-upstream-key-0001`] })),
      models: [
        {
          id: "grok-4",
          deployments: providers.map((p, i) => ({ provider: p.id, upstream_model: "grok-4-0709", priority: p.priority ?? i, weight: p.weight ?? 1 })),
          ...MODEL_PRICES,
        },
      ],
      ...overrides,
    },
  });
}

/** A URL on loopback where nothing listens (connection refused). */
export async function deadUrl(): Promise<string> {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const port = s.port;
  await s.stop(true);
  return `http://127.0.0.1:${port}/v1`;
}

export const elapsedSince = (t0: number) => performance.now() - t0;

/** Charge rows of an account, straight from the ledger table. */
export function chargeRows(db: Database, accountId: string): { request_id: string; amount_micros: number }[] {
  return db
    .query<{ request_id: string; amount_micros: number }, [string]>("SELECT request_id, amount_micros FROM ledger_entries WHERE account_id = ? AND kind = 'charge' ORDER BY id")
    .all(accountId);
}

export function usageRow(db: Database, requestId: string) {
  return db
    .query<{ status: number; cost_micros: number; estimated: number; error_code: string | null; prompt_tokens: number; completion_tokens: number }, [string]>(
      "SELECT status, cost_micros, estimated, error_code, prompt_tokens, completion_tokens FROM usage_log WHERE request_id = ?",
    )
    .get(requestId);
}

/**
 * The ledger is exact: no hold left, balance = credits − Σ charges, every charge has its own
 * request id and equals its usage row, and the ledger integrity check passes. Returns the
 * charges by request id.
 */
export async function expectExactLedger(gw: Gateway, accountId: string, credits: number): Promise<Map<string, number>> {
  const store = gw.runtime.deps.credits;
  expect(await until(() => store.balance(accountId).held === 0, 3_000)).toBe(true);
  const db = gw.runtime.deps.store.sqlite;
  const rows = chargeRows(db, accountId);
  const byRequest = new Map<string, number>();
  for (const r of rows) {
    expect(byRequest.has(r.request_id)).toBe(false);
    byRequest.set(r.request_id, -r.amount_micros);
    expect(usageRow(db, r.request_id)?.cost_micros).toBe(-r.amount_micros);
  }
  const spent = rows.reduce((s, r) => s - r.amount_micros, 0);
  expect(store.balance(accountId).balance).toBe(credits - spent);
  expect(await checkLedger(gw.runtime.deps.store)).toEqual([]);
  return byRequest;
}

/** What a cut stream is charged: the prompt estimate plus the estimate of each delivered chunk. */
export function cutStreamCost(body: { messages: unknown[] }, events: unknown[]): number {
  let completion = 0;
  for (const e of events as { choices?: { delta?: { content?: string } }[] }[]) {
    for (const c of e.choices ?? []) completion += deltaTokens(c.delta?.content ?? "");
  }
  return costMicros({ prompt: promptEstimate(body), cached: 0, completion, reasoning: 0 }, PRICES);
}

/** Reads an SSE response event by event: parsed payloads, whether [DONE] came, and when each event came. */
export async function readSseTimed(res: Response): Promise<{ events: unknown[]; done: boolean; raw: string; lastEventAt: number }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let raw = "";
  let lastEventAt = performance.now();
  for (;;) {
    let r: Awaited<ReturnType<typeof reader.read>>;
    try {
      r = await reader.read();
    } catch {
      break;
    }
    if (r.done) break;
    raw += decoder.decode(r.value, { stream: true });
    lastEventAt = performance.now();
  }
  return { ...parseSse(raw), lastEventAt };
}
