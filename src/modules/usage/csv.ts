import { csvCell } from "../../lib/csv";
import type { UsageRowT } from "./model";

/** The columns of every usage CSV (portal, console, CLI), in order. */
export const USAGE_CSV_COLUMNS = [
  "created_at", "request_id", "account_id", "key_id", "model", "endpoint", "status", "stream", "prompt_tokens", "cached_tokens",
  "completion_tokens", "reasoning_tokens", "cost_usd", "estimated", "latency_ms", "error_code",
] as const;

/** One usage row as a CSV line (no line end); `costUsd` formats its cost (exact USD). */
export function usageCsvLine(r: UsageRowT, costUsd: (micros: number) => string): string {
  const row = { ...r, created_at: new Date(r.created_at * 1000).toISOString(), cost_usd: costUsd(r.cost_micros) } as Record<string, unknown>;
  return USAGE_CSV_COLUMNS.map((c) => csvCell(row[c])).join(",");
}
