import type { Tool } from "../../config/schema";
import type { Usage } from "../../money/usage";
import { hideCostOf, readable, readExtras, tokenCount as n, withToolCalls } from "../providers/usage";

/**
 * Usage of the Responses API: input_tokens include the cached ones, plus the upstream's cost and
 * tool calls. OpenAI's output_tokens include reasoning; xAI's may not (its total_tokens adds the
 * reasoning back), so, as for chat, the billable output is max(output, total − input). `calls`:
 * the server-side tool calls among the response's output items (OpenAI counts them only there).
 */
export function readResponsesUsage(raw: Record<string, unknown>, calls: Iterable<Tool | null> = []): Usage | null {
  // No input count is no usage (an absent count reads as 0, which would make the prompt free).
  if (raw.input_tokens == null) return null;
  const input = n(raw.input_tokens);
  const details = raw.input_tokens_details as { cached_tokens?: unknown } | null | undefined;
  const outDetails = raw.output_tokens_details as { reasoning_tokens?: unknown } | null | undefined;
  const output = raw.total_tokens !== undefined ? Math.max(n(raw.output_tokens), n(raw.total_tokens) - input) : n(raw.output_tokens);
  const usage = readable({
    prompt: input,
    cached: Math.min(n(details?.cached_tokens), input),
    completion: output,
    reasoning: Math.min(n(outDetails?.reasoning_tokens), output),
    ...readExtras(raw),
  });
  return withToolCalls(usage, raw, calls);
}

/** The usage a customer sees: output_tokens as charged (reasoning included), the cost as their charge (none for unreadable usage). */
export function showResponsesUsage(raw: Record<string, unknown>, u: Usage | null, price: (u: Usage) => number): void {
  if (u && typeof raw.output_tokens === "number") raw.output_tokens = u.completion;
  hideCostOf(raw, u, price);
}
