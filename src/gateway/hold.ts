import type { Model } from "../config/load";
import { errors } from "../lib/errors";
import { costMicros } from "./providers/usage";
import { promptEstimate, promptUpperBound } from "./estimate";
import type { ChatRequestT } from "./chat-request";

/** Below this many affordable output tokens a request without max_tokens is refused (402). */
export const MIN_CAPPED_OUTPUT = 16;

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
 * Worst case = prompt upper bound + max output for every choice. With an explicit max_tokens /
 * max_completion_tokens the hold covers exactly that (402 when it cannot). Without one the
 * model's max output is assumed; when the balance cannot cover it, the upstream max_tokens is
 * capped to what the balance covers (OpenRouter's policy), so small balances still work.
 */
export function planHold(model: Model, body: ChatRequestT, spendable: number): HoldPlan {
  const n = body.n ?? 1;
  const requested = body.max_completion_tokens ?? body.max_tokens ?? null;
  const promptUpper = promptUpperBound(body);
  const estimate = promptEstimate(body);
  const worst = (out: number) => costMicros({ prompt: promptUpper, cached: 0, completion: out * n, reasoning: 0 }, model);
  const base = { promptEstimate: estimate, tokenEstimate: estimate + (requested ?? 0) * n };
  if (requested !== null) {
    const hold = worst(requested);
    // Checked before rate limiting too, so that being out of credit is always a 402, never a 429.
    if (hold > spendable) throw outOfCredit();
    return { ...base, hold, cappedMaxTokens: null };
  }

  const full = worst(model.max_output_tokens);
  if (full <= spendable || model.output_price === 0) return { ...base, hold: full, cappedMaxTokens: null };
  const budget = BigInt(Math.max(spendable, 0)) * 1_000_000n - BigInt(promptUpper) * BigInt(model.input_price);
  const affordable = budget <= 0n ? 0 : Number(budget / (BigInt(model.output_price) * BigInt(n)));
  if (affordable < MIN_CAPPED_OUTPUT) throw outOfCredit();
  return { ...base, hold: worst(affordable), cappedMaxTokens: affordable };
}

const outOfCredit = () =>
  errors.insufficientQuota("You have run out of credits: your available balance does not cover this request. Add credits to continue.");
