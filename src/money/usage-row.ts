import type { SqliteStore } from "../store/sqlite-store";
import type { StoredObjectRow, UsageRecord } from "./credit-store";

const SQL = `INSERT OR REPLACE INTO usage_log (request_id, account_id, key_id, model, stream, status, prompt_tokens,
  cached_tokens, completion_tokens, reasoning_tokens, cost_micros, estimated, latency_ms, ttft_ms,
  upstream_request_id, error_code, created_at, endpoint, upstream, overage_micros, upstream_cost_micros)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** Writes one usage-log row; called inside the settlement transaction. */
export function insertUsage(store: SqliteStore, u: UsageRecord): void {
  store.prepared(SQL).run(
    u.requestId, u.accountId, u.keyId, u.model, u.stream ? 1 : 0, u.status, u.promptTokens, u.cachedTokens,
    u.completionTokens, u.reasoningTokens, u.costMicros, u.estimated ? 1 : 0, u.latencyMs, u.ttftMs,
    u.upstreamRequestId, u.errorCode, u.createdAt, u.endpoint ?? "chat.completions", u.upstream ?? null, u.overageMicros ?? 0,
    u.upstreamCostMicros ?? null,
  );
}

const OBJECT_SQL = `INSERT INTO upstream_objects (id, kind, account_id, key_id, target, model, tokens, charge_micros, created_at, response_id)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`;

/** Records a stored object for its owner (the first creator of an id keeps it); inside the settlement transaction. */
export function insertObject(store: SqliteStore, o: StoredObjectRow): void {
  store.prepared(OBJECT_SQL).run(o.id, o.kind, o.accountId, o.keyId, o.target, o.model, o.tokens, o.chargeMicros, o.createdAt, o.responseId ?? null);
}
