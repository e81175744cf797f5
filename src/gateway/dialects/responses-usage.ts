import type { Usage } from "../../money/usage";
import { readExtras } from "../providers/usage";

const n = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);

/**
 * Usage of the Responses API: input_tokens include the cached ones, output_tokens include
 * reasoning (OpenAI accounting, which xAI follows here), plus the upstream's cost and tool calls.
 */
export function readResponsesUsage(raw: Record<string, unknown>): Usage {
  const input = n(raw.input_tokens);
  const details = raw.input_tokens_details as { cached_tokens?: unknown } | null | undefined;
  const outDetails = raw.output_tokens_details as { reasoning_tokens?: unknown } | null | undefined;
  const output = n(raw.output_tokens);
  return {
    prompt: input,
    cached: Math.min(n(details?.cached_tokens), input),
    completion: output,
    reasoning: Math.min(n(outDetails?.reasoning_tokens), output),
    ...readExtras(raw),
  };
}
