import type { Model } from "../../config/load";

/** Token usage in OpenAI accounting: `completion` includes reasoning tokens. */
export interface Usage {
  prompt: number;
  cached: number;
  completion: number;
  reasoning: number;
}

export interface RawUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number; [k: string]: unknown } | null;
  completion_tokens_details?: { reasoning_tokens?: number; [k: string]: unknown } | null;
  [k: string]: unknown;
}

const n = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);

/**
 * Reads upstream usage under either accounting. OpenAI: completion includes reasoning. xAI:
 * completion excludes reasoning and total = prompt + completion + reasoning. `total - prompt`
 * is the billable output under both, so it wins whenever total is present.
 */
export function readUsage(raw: RawUsage, reasoningIsExtra: boolean): Usage {
  const prompt = n(raw.prompt_tokens);
  const completion = n(raw.completion_tokens);
  const reasoning = n(raw.completion_tokens_details?.reasoning_tokens);
  const output =
    raw.total_tokens !== undefined
      ? Math.max(completion, n(raw.total_tokens) - prompt)
      : completion + (reasoningIsExtra ? reasoning : 0);
  return { prompt, cached: Math.min(n(raw.prompt_tokens_details?.cached_tokens), prompt), completion: output, reasoning };
}

/** The usage object returned to clients, normalised to OpenAI accounting; other fields kept. */
export function usageJson(raw: RawUsage, u: Usage): RawUsage {
  return {
    ...raw,
    prompt_tokens: u.prompt,
    completion_tokens: u.completion,
    total_tokens: u.prompt + u.completion,
    prompt_tokens_details: { ...raw.prompt_tokens_details, cached_tokens: u.cached },
    completion_tokens_details: { ...raw.completion_tokens_details, reasoning_tokens: u.reasoning },
  };
}

/**
 * Cost in micros. Prices are micros per token scaled by 1e6, so the exact cost is an integer
 * in 1e-6 micros; it is rounded up once per request. Exact integer arithmetic either way: plain
 * numbers while every product and the sum stay below 2^53 (every real request), BigInt beyond.
 */
export function costMicros(u: Usage, m: Pick<Model, "input_price" | "cached_input_price" | "output_price">): number {
  const a = (u.prompt - u.cached) * m.input_price;
  const b = u.cached * m.cached_input_price;
  const c = u.completion * m.output_price;
  const scaled = a + b + c;
  if (Number.isSafeInteger(a) && Number.isSafeInteger(b) && Number.isSafeInteger(c) && Number.isSafeInteger(scaled)) {
    return ceilDivMillion(scaled);
  }
  return costMicrosBig(u, m);
}

/** ⌈x / 1e6⌉ for a safe integer x, corrected for the rounding of the float division. */
function ceilDivMillion(x: number): number {
  let q = Math.floor(x / 1_000_000);
  let r = x - q * 1_000_000;
  if (r < 0) (q -= 1), (r += 1_000_000);
  else if (r >= 1_000_000) (q += 1), (r -= 1_000_000);
  return r > 0 ? q + 1 : q;
}

/** The same in BigInt: any size, the reference for the fast path (see test/providers.test.ts). */
export function costMicrosBig(u: Usage, m: Pick<Model, "input_price" | "cached_input_price" | "output_price">): number {
  const scaled =
    BigInt(u.prompt - u.cached) * BigInt(m.input_price) +
    BigInt(u.cached) * BigInt(m.cached_input_price) +
    BigInt(u.completion) * BigInt(m.output_price);
  return Number((scaled + 999_999n) / 1_000_000n);
}
