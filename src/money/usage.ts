import type { Model } from "../config/load";
import type { Tool } from "../config/schema";

/** Token usage in OpenAI accounting: `completion` includes reasoning tokens. */
export interface Usage {
  prompt: number;
  cached: number;
  completion: number;
  reasoning: number;
  /** Successful calls of the upstream's server-side tools, by tool. */
  tools?: Partial<Record<Tool, number>>;
  /**
   * Successful calls the upstream counted without naming their tool (xAI's total,
   * num_server_side_tools_used, above its details): priced by the meter (money/pricing.ts namedCalls).
   */
  unnamedTools?: number;
  /** Images generated. */
  images?: number;
  /** What the upstream billed for the request, in micros (its ticks rounded up), when it says. */
  upstreamCost?: number | null;
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

/**
 * The most one of an answer's output items is billed as when a later request names it: the whole
 * output (reasoning included); with server-side tools the whole response, since a tool's item may
 * carry what the tool brought in, which the upstream counted as prompt. At least 1: 0 means unknown.
 */
export function outputItemTokens(u: Usage): number {
  const tools = (u.unnamedTools ?? 0) > 0 || Object.values(u.tools ?? {}).some((n) => (n ?? 0) > 0);
  return Math.max(1, tools ? u.prompt + u.completion : u.completion);
}
