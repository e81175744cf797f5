import { eq, sql } from "drizzle-orm";
import { get, rows, type Q, type Work } from "../store/work";
import type { BudgetClock, BudgetPeriod } from "./budget-clock";

/** A budget as set on a key (its rotation line) or a member: so much per period. */
export interface BudgetRule {
  micros: number;
  period: BudgetPeriod;
}

/** A budget and where it stands now. */
export interface BudgetState {
  scope: "key" | "member";
  /** The key carrying the line's spend (the newest of its rotation line), or the member. */
  id: string;
  period: BudgetPeriod;
  limit: number;
  /** Charged since the period began. */
  spent: number;
  /** Held by requests in flight (they count against the budget until settled). */
  held: number;
  /** limit - spent - held; below zero after an overage. */
  remaining: number;
  periodStart: number;
  /** When the next period begins. */
  resetsAt: number;
}

/** Whose budgets a hold counts against. */
export interface BudgetOwners {
  capKeyId: string | null;
  memberId: string | null;
}

export const keyOwner = (keyId: string) => `key:${keyId}`;
export const memberOwner = (memberId: string) => `member:${memberId}`;

/** The budget_spend owners a settlement adds to: its key's line and its member. */
export function ownersOf(op: { keyId: string | null; capKeyId?: string | null; memberId?: string | null }): string[] {
  const owners: string[] = [];
  const key = op.capKeyId ?? op.keyId;
  if (key) owners.push(keyOwner(key));
  if (op.memberId) owners.push(memberOwner(op.memberId));
  return owners;
}

/** A rule from nullable columns (both set, or no budget). */
export function ruleOf(micros: number | null | undefined, period: string | null | undefined): BudgetRule | null {
  return micros != null && (period === "day" || period === "week" || period === "month") ? { micros, period } : null;
}

/** The smallest remaining of the budgets, never below zero; null without any (x-budget-remaining). */
export function leastRemaining(states: readonly BudgetState[]): number | null {
  if (states.length === 0) return null;
  return Math.max(0, Math.min(...states.map((s) => s.remaining)));
}

/**
 * Where members' budgets stand from the database alone (spend committed so far, nothing held):
 * what a process that does not serve requests sees, like the CLI on PostgreSQL.
 */
export function* storedMemberBudgets(q: Q, clock: BudgetClock, memberIds: readonly string[], now: number): Work<Map<string, BudgetState>> {
  const out = new Map<string, BudgetState>();
  for (const id of memberIds) {
    const m = yield* get(q.db.select().from(q.t.accountMembers).where(eq(q.t.accountMembers.id, id)));
    const rule = ruleOf(m?.budgetMicros, m?.budgetPeriod);
    if (!rule) continue;
    const periodStart = clock.periodStart(rule.period, now);
    const spent = yield* spentSince(q, memberOwner(id), periodStart);
    out.set(id, { scope: "member", id, period: rule.period, limit: rule.micros, spent, held: 0, remaining: rule.micros - spent, periodStart, resetsAt: clock.periodEnd(rule.period, now) });
  }
  return out;
}

/** What a budget owner (keyOwner, memberOwner) spent from the day `from` on, as committed. */
export function* spentSince(q: Q, owner: string, from: number): Work<number> {
  const s = q.t.budgetSpend;
  const [r] = yield* rows<{ spent: string | number | null }>(sql`SELECT sum(${s.spentMicros}) AS spent FROM ${s} WHERE ${s.owner} = ${owner} AND ${s.day} >= ${from}`);
  return Number(r?.spent ?? 0);
}
