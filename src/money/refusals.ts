import { ApiError, errors } from "../lib/errors";
import { periodAdjective, periodWords, type BudgetClock } from "./budget-clock";
import type { BudgetState } from "./budgets";
import { microsToUsd } from "./units";

/** 402 when the account's available credit does not cover a request. */
export const outOfCredit = (): ApiError =>
  errors.insufficientQuota("You have run out of credits: your available balance does not cover this request. Add credits to continue.");

/**
 * 402 when a key's own spending cap (shared with its replacements) is what refuses a request:
 * the account may hold plenty, so the message names the key and its cap, not the balance.
 */
export const spendCapReached = (keyId: string, cap: number, spent: number): ApiError =>
  errors.insufficientQuota(
    `This API key (${keyId}) has reached its spending cap: ${microsToUsd(Math.max(0, spent))} of ${microsToUsd(cap)} USD spent, ` +
      "not enough left for this request. Raise the key's cap or use another key.",
    "spend_cap_reached",
  );

/** A spending cap, as a refusal that names what binds calls it. */
export const spendCap = (): string => "this API key's spending cap";

/** "this key's daily budget", "your monthly member budget". */
const budgetName = (b: Pick<BudgetState, "scope" | "period">): string =>
  b.scope === "key" ? `this key's ${periodAdjective(b.period)} budget` : `your ${periodAdjective(b.period)} member budget`;

/** A budget and when it resets, as a refusal that names what binds calls it. */
export const budgetLimit = (b: BudgetState, clock: BudgetClock): string =>
  `${budgetName(b)}, which resets at ${clock.format(b.resetsAt)} (${clock.timeZone}),`;

/**
 * 402 when a budget (the key's, or its member's) cannot cover a request: names the budget, what
 * was spent and when it resets, in the budget time zone, so the caller knows when to try again.
 */
export function budgetExhausted(b: BudgetState, clock: BudgetClock): ApiError {
  const whose = budgetName(b);
  const e = errors.insufficientQuota(
    `${whose[0]!.toUpperCase()}${whose.slice(1)} of ${microsToUsd(b.limit)} USD is used up ` +
      `(${microsToUsd(Math.max(0, b.spent))} USD spent ${periodWords(b.period)}, not enough left for this request); ` +
      `it resets at ${clock.format(b.resetsAt)} (${clock.timeZone}).`,
    "budget_exhausted",
  );
  e.headers["x-budget-reset"] = new Date(b.resetsAt).toISOString();
  return e;
}
