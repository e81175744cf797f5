import type { Tool } from "../config/schema";
import type { TapResult } from "./dialects/types";

/**
 * Tokens one delta of a stream delivered. Upstreams send about one token per chunk (OpenAI, xAI,
 * vLLM), so a short delta counts as one, whatever its length in characters (four characters a
 * token nearly doubled the estimate of a cut stream); a long delta is several tokens batched, at
 * four UTF-8 bytes a token as the prompt's estimate (a CJK character is about 0.75 token, not 0.25).
 */
export function deltaTokens(text: string): number {
  return text.length === 0 ? 0 : text.length <= 12 ? 1 : Math.ceil(Buffer.byteLength(text) / 4);
}

// Shared results: the common outcomes allocate nothing per event.
export const PASS: TapResult = { pass: true };
export const MALFORMED: TapResult = { error: "malformed" };

/** Calls by tool (EventTap.toolCalls), or null when there are none. */
export function tally(calls: Iterable<Tool>): Partial<Record<Tool, number>> | null {
  let out: Partial<Record<Tool, number>> | null = null;
  for (const t of calls) (out ??= {})[t] = (out[t] ?? 0) + 1;
  return out;
}
