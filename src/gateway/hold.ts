import type { Model } from "../config/load";
import type { Tool } from "../config/schema";
import { ApiError } from "../lib/errors";
import type { Spendable } from "../money/credit-store";
import { holdFor } from "../money/pricing";
import { microsToUsd } from "../money/units";

/** Below this many affordable output tokens a request without an output limit is refused (402). */
export const MIN_CAPPED_OUTPUT = 16;

/** What a request may spend, and the 402 that says why when it is not enough. */
export type { Spendable } from "../money/credit-store";

/** What a request asks of a model, as its dialect reads it from the body. */
export interface Demand {
  /** Upper bound of prompt tokens (bytes; images at a generous fixed size). */
  promptUpper: number;
  /** Realistic prompt tokens, for the rate limiter and estimates. */
  promptEstimate: number;
  /**
   * Part of the prompt is stored content of unknown size: the bound is at least the model's
   * context_window (no prompt the upstream takes is larger).
   */
  upToContext?: true;
  /** The output limit the request sets, or null (then the model's max_output_tokens). */
  maxOutput: number | null;
  /** The body field that limit came from, named when it is what the credit cannot hold (default max_tokens). */
  maxOutputParam?: string;
  /** Choices generated (chat's n), or images asked for. */
  n: number;
  /** Server-side tools the request enables (each may be called several times). */
  tools: readonly Tool[];
  /** Image generation: images asked for (priced per image, no tokens). */
  images?: number;
}

export interface HoldPlan {
  /** Micros to reserve: the worst case of this request. */
  hold: number;
  /** Set when the gateway lowered the output limit to what the balance covers. */
  cappedMaxTokens: number | null;
  promptEstimate: number;
  /** Tokens charged to the rate limiter at admission (corrected at settlement). */
  tokenEstimate: number;
}

/**
 * Worst case = prompt upper bound + max output for every choice, plus the model's reasoning
 * allowance and the tool-call allowance when the balance covers them (reasoning may run past
 * max_tokens, an agent may call more tools; what runs past the hold is still charged, as
 * overage). With an explicit output limit the hold covers exactly that (402 when it cannot).
 * Without one the model's max output is assumed; when the balance cannot cover it, the upstream
 * limit is capped to what the balance covers (OpenRouter's policy), so small balances still work.
 */
export function planHold(model: Model, demand: Demand, spendable: Spendable): HoldPlan {
  const d = demand.upToContext ? { ...demand, promptUpper: Math.max(demand.promptUpper, model.context_window) } : demand;
  const base = { promptEstimate: d.promptEstimate, tokenEstimate: d.promptEstimate + (d.maxOutput ?? 0) * d.n };
  if (d.images !== undefined) return imageHold(model, d, spendable, base);
  const dearest = dearestPaidTool(model, d.tools);
  // A paid tool costs money on any model, free tokens or not: never on credit that is not there.
  if (dearest && spendable.amount <= 0) throw spendable.refuse();
  // Whatever the allowance, a request enabling a paid tool holds at least one call of it (also
  // with tool_call_allowance 0): its concurrency stays bounded by the credit. The allowance only
  // sets how many calls the generous hold counts.
  const tools = dearest ? { [dearest]: Math.max(model.tool_call_allowance, 1) } : undefined;
  const once = dearest ? { [dearest]: 1 } : undefined;
  const worst = (out: number, held: Partial<Record<Tool, number>> | undefined) =>
    holdFor({ prompt: d.promptUpper, cached: 0, completion: out * d.n, reasoning: 0, tools: held }, model);
  const allowance = model.reasoning_allowance_tokens;
  const out = d.maxOutput ?? model.max_output_tokens;
  const generous = worst(out + allowance, tools);
  if (generous <= spendable.amount || (d.maxOutput === null && model.output_price === 0 && !tools)) return { ...base, hold: generous, cappedMaxTokens: null };
  const bare = (out: number) => worst(out, once);
  const plain = bare(out);
  if (plain <= spendable.amount) return { ...base, hold: plain, cappedMaxTokens: null };
  // Checked before rate limiting too, so that being out of credit is always a 402, never a 429.
  if (d.maxOutput !== null || model.output_price === 0) throw limitRefusal(d, spendable, plain, bare);
  const affordable = affordableOutput(bare, out - 1, spendable.amount);
  if (affordable < MIN_CAPPED_OUTPUT) throw spendable.refuse();
  return { ...base, hold: bare(affordable), cappedMaxTokens: affordable };
}

/**
 * The 402 of an output limit the credit cannot hold although a smaller one would fit: it names
 * the limit, since "out of credits" or "used up" would send a customer to top up, or to wait for
 * a budget's reset, for nothing. The code stays that of what binds (balance, cap, budget).
 */
function limitRefusal(d: Demand, spendable: Spendable, hold: number, worst: (out: number) => number): ApiError {
  const refusal = spendable.refuse();
  const asked = d.maxOutput;
  if (asked === null || worst(Math.min(MIN_CAPPED_OUTPUT, asked)) > spendable.amount) return refusal;
  const param = d.maxOutputParam ?? "max_tokens";
  const fits = affordableOutput(worst, asked - 1, spendable.amount);
  const hint = fits >= MIN_CAPPED_OUTPUT ? ` to at most ${fits}` : "";
  const left = microsToUsd(spendable.amount);
  const binds = spendable.limit ? `${spendable.limit()} leaves ${left} USD` : `the account has ${left} USD available`;
  const message = `This request holds up to ${microsToUsd(hold)} USD for ${param}=${asked} and ${binds}; lower ${param}${hint}.`;
  return new ApiError(402, message, refusal.type, refusal.code, param, refusal.headers);
}

/**
 * The most output tokens per choice, up to `max`, whose hold `amount` covers: searched on the hold
 * itself, so that a markup on the prompt's cost and long-context prices count as they will.
 */
function affordableOutput(worst: (out: number) => number, max: number, amount: number): number {
  if (max < 0 || worst(0) > amount) return 0;
  let lo = 0;
  // No balance pays for more than 2^40 tokens (10^15 micros at a micro a token): the search stays
  // within exact integers, where lo + (hi - lo) / 2 always moves.
  let hi = Math.min(max, 2 ** 40);
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    if (worst(mid) <= amount) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The priciest tool the request enables, when it costs anything (what a hold counts calls of). */
function dearestPaidTool(model: Model, tools: readonly Tool[]): Tool | null {
  if (tools.length === 0) return null;
  let priciest = tools[0]!;
  for (const t of tools) if (model.tool_prices[t] > model.tool_prices[priciest]) priciest = t;
  return model.tool_prices[priciest] > 0 ? priciest : null;
}

function imageHold(model: Model, d: Demand, spendable: Spendable, base: Omit<HoldPlan, "hold" | "cappedMaxTokens">): HoldPlan {
  const hold = holdFor({ prompt: 0, cached: 0, completion: 0, reasoning: 0, images: d.images }, model);
  if (hold > spendable.amount) throw spendable.refuse();
  return { ...base, tokenEstimate: 0, hold, cappedMaxTokens: null };
}
