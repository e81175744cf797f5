import type { CreditStore } from "../money/credit-store";
import { leastRemaining } from "../money/budgets";
import { microsToUsdFixed } from "../money/units";
import type { Principal } from "./key-auth";

/**
 * x-budget-remaining on every /v1 answer for a key with a budget (its own, or its member's): USD
 * left in the current period of whichever budget has least, in-flight holds deducted; none
 * without a budget.
 */
export function budgetHeaders(credits: CreditStore, p: Principal): Record<string, string> {
  if (p.budgeted === false) return {};
  const least = leastRemaining(credits.budgets({ capKeyId: p.capKeyId, memberId: p.memberId ?? null }));
  return least === null ? {} : { "x-budget-remaining": microsToUsdFixed(least) };
}
