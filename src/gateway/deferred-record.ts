import type { UsageRecord } from "../money/credit-store";
import { upstreamCostFor, type ModelPrices } from "../money/pricing";
import type { Usage } from "../money/usage";
import type { GatewayDeps } from "./deps";
import { parkedPrices, type DeferredRow } from "./deferred";

/** The usage row of a deferred request's charge or release, as any request's. */
export function usageRecord(deps: GatewayDeps, row: DeferredRow, u: Usage, cost: number, status: number, errorCode: string | null, estimated: boolean): UsageRecord {
  return {
    requestId: row.requestId,
    accountId: row.accountId,
    keyId: row.keyId,
    model: row.model,
    stream: false,
    status,
    promptTokens: u.prompt,
    cachedTokens: u.cached,
    completionTokens: u.completion,
    reasoningTokens: u.reasoning,
    costMicros: cost,
    estimated,
    latencyMs: Math.max(0, deps.now() - row.createdAt),
    ttftMs: null,
    upstreamRequestId: row.upstreamId,
    errorCode,
    createdAt: deps.now(),
    endpoint: "chat.completions",
    // Named as every usage row names its key (`<provider>#<n>`), while it is configured.
    upstream: deps.upstreams.registry.resolve(row.target)?.id ?? row.target,
    overageMicros: Math.max(0, cost - row.holdMicros),
    upstreamCostMicros: operatorCost(deps, row, u),
  };
}

/** What the upstream billed for it, as for any request (its reported cost, else the upstream_cost prices it was parked under). */
function operatorCost(deps: GatewayDeps, row: DeferredRow, u: Usage): number | null {
  let prices: ModelPrices | null = null;
  try {
    prices = parkedPrices(row, deps.config.models);
  } catch {
    // Prices that cannot be read leave the cost unknown, as without any.
  }
  return prices ? upstreamCostFor(u, prices) : (u.upstreamCost ?? null);
}

/** The charge (or release) of a deferred result: an event, the request's own line was written when it was parked. */
export function logDeferred(deps: GatewayDeps, r: UsageRecord): void {
  deps.metrics?.metered(r);
  deps.log.event("deferred_settled", {
    request_id: r.requestId, account: r.accountId, key_id: r.keyId, endpoint: r.endpoint, model: r.model, deferred: true, upstream: r.upstream,
    status: r.status, error_code: r.errorCode, prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, charge_micros: r.costMicros,
  });
}
