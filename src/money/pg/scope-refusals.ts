import type { ApiError } from "../../lib/errors";
import type { BudgetClock } from "../budget-clock";
import type { Q, Work } from "../../store/work";
import { storedBudgets, type BudgetOwners, type BudgetState } from "../budgets";
import { budgetExhausted, budgetLimit, outOfCredit, spendCap, spendCapReached } from "../refusals";
import type { LeaseBook } from "./lease-book";
import { leasedBudgetHolds } from "./lease-sql";
import type { Scope } from "./scopes";

/* What the PostgreSQL credit store tells of a scope as this instance leases it (its refusal, a budget's state), and of budgets as the database has them. */

/** The name of the limit a scope sets, for a refusal's message (the account's balance has none). */
export function limitNameOf(leases: LeaseBook, clock: BudgetClock, s: Scope): (() => string) | undefined {
  if (s.kind === "cap") return spendCap;
  return s.kind === "bud" ? () => budgetLimit(budgetStateOf(leases, s), clock) : undefined;
}

/** The 402 of a scope that cannot cover a hold. */
export function refusalOf(leases: LeaseBook, clock: BudgetClock, s: Scope, keyId?: string | null): ApiError {
  const l = leases.get(s);
  if (s.kind === "cap") return spendCapReached(keyId ?? s.keyId, s.cap, l.limit?.spent ?? 0);
  if (s.kind === "bud") return budgetExhausted(budgetStateOf(leases, s), clock);
  return outOfCredit();
}

/** A budget scope's period as this instance knows it: spent (as last read), held here, remaining. */
export function budgetStateOf(leases: LeaseBook, s: Scope): BudgetState {
  if (s.kind !== "bud") throw new TypeError("not a budget scope");
  const l = leases.get(s);
  const spent = l.limit?.spent ?? 0;
  return {
    scope: s.who, id: s.id, period: s.rule.period, limit: s.rule.micros, spent, held: l.held, remaining: s.rule.micros - spent - l.held,
    periodStart: s.periodStart, resetsAt: s.resetsAt,
  };
}

/**
 * Where these owners' budgets stand in the database, for a page: spend committed, what this
 * instance's requests hold now, and what other instances' hold as their leases last reported it.
 */
export function* storedBudgetStates(q: Q, clock: BudgetClock, owners: readonly BudgetOwners[], leases: LeaseBook, instanceId: string, now: number): Work<Map<string, BudgetState>> {
  const states = yield* storedBudgets(q, clock, owners, now);
  const others = yield* leasedBudgetHolds(q, [...states.keys()], instanceId, now);
  for (const [owner, s] of states) {
    const held = (others.get(owner) ?? 0) + leases.heldUnder(`bud:${owner}:`);
    states.set(owner, { ...s, held, remaining: s.remaining - held });
  }
  return states;
}
