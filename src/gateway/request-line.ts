import type { LogFields } from "../lib/log";
import type { UsageRecord } from "../money/credit-store";

/** What the line says besides the usage row: its answer, and whether the charge is recorded yet. */
export interface LineFacts {
  status: number;
  errorCode: string | null;
  attempts: number;
  /** False while the charge waits to be written (it shows 0 then). */
  charged: boolean;
}

/** A metered request's one log line, from its usage row: nothing secret or customer-written. */
export function requestLine(row: UsageRecord, f: LineFacts): LogFields {
  return {
    request_id: row.requestId,
    account: row.accountId,
    key_id: row.keyId,
    endpoint: row.endpoint,
    model: row.model,
    stream: row.stream,
    upstream: row.upstream,
    attempts: f.attempts,
    status: f.status,
    error_code: f.errorCode,
    duration_ms: row.latencyMs,
    ttft_ms: row.ttftMs,
    prompt_tokens: row.promptTokens,
    cached_tokens: row.cachedTokens,
    completion_tokens: row.completionTokens,
    reasoning_tokens: row.reasoningTokens,
    charge_micros: f.charged ? row.costMicros : 0,
    upstream_cost_micros: row.upstreamCostMicros ?? undefined,
    overage_micros: row.overageMicros || undefined,
    estimated: row.estimated || undefined,
  };
}
