import type { Model } from "../config/load";
import type { ApiError } from "../lib/errors";
import { costMicros } from "./providers/usage";
import { promptEstimate, promptUpperBound } from "./estimate";
import type { ChatRequestT } from "./chat-request";

/** Below this many affordable output tokens a request without max_tokens is refused (402). */
export const MIN_CAPPED_OUTPUT = 16;

/** What a request may spend, and the 402 that says why when it is not enough. */
export interface Spendable {
  amount: number;
  refuse: () => ApiError;
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
 * allowance when the balance covers it (reasoning may run past max_tokens; what runs past the
 * hold is still charged, as overage). With an explicit max_tokens / max_completion_tokens the
 * hold covers exactly that (402 when it cannot). Without one the model's max output is assumed;
 * when the balance cannot cover it, the upstream max_tokens is capped to what the balance covers
 * (OpenRouter's policy), so small balances still work.
 */
export function planHold(model: Model, body: ChatRequestT, spendable: Spendable): HoldPlan {
  const n = body.n ?? 1;
  const requested = body.max_completion_tokens ?? body.max_tokens ?? null;
  const promptUpper = promptUpperBound(body);
  const estimate = promptEstimate(body);
  const worst = (out: number) => costMicros({ prompt: promptUpper, cached: 0, completion: out * n, reasoning: 0 }, model);
  const allowance = model.reasoning_allowance_tokens;
  const base = { promptEstimate: estimate, tokenEstimate: estimate + (requested ?? 0) * n };
  if (requested !== null) {
    const generous = worst(requested + allowance);
    if (generous <= spendable.amount) return { ...base, hold: generous, cappedMaxTokens: null };
    const hold = worst(requested);
    // Checked before rate limiting too, so that being out of credit is always a 402, never a 429.
    if (hold > spendable.amount) throw spendable.refuse();
    return { ...base, hold, cappedMaxTokens: null };
  }

  const generous = worst(model.max_output_tokens + allowance);
  if (generous <= spendable.amount || model.output_price === 0) return { ...base, hold: generous, cappedMaxTokens: null };
  const full = worst(model.max_output_tokens);
  if (full <= spendable.amount) return { ...base, hold: full, cappedMaxTokens: null };
  const budget = BigInt(Math.max(spendable.amount, 0)) * 1_000_000n - BigInt(promptUpper) * BigInt(model.input_price);
  const affordable = budget <= 0n ? 0 : Number(budget / (BigInt(model.output_price) * BigInt(n)));
  if (affordable < MIN_CAPPED_OUTPUT) throw spendable.refuse();
  return { ...base, hold: worst(affordable), cappedMaxTokens: affordable };
}
