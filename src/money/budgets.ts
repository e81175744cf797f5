import { and, gte, inArray } from "drizzle-orm";
import { all, type Q, type Work } from "../store/work";
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
  const states = yield* storedBudgets(q, clock, memberIds.map((id) => ({ capKeyId: null, memberId: id })), now);
  const out = new Map<string, BudgetState>();
  for (const id of memberIds) {
    const state = states.get(memberOwner(id));
    if (state) out.set(id, state);
  }
  return out;
}

/**
 * Where the budgets of many owners stand from the database (spend committed, nothing held), in
 * three queries whatever their number: the rules of the keys, of the members, and their spend.
 * Keyed by budget owner (keyOwner, memberOwner); an owner without a budget is absent.
 */
export function* storedBudgets(q: Q, clock: BudgetClock, owners: readonly BudgetOwners[], now: number): Work<Map<string, BudgetState>> {
  const keyIds = [...new Set(owners.flatMap((o) => (o.capKeyId ? [o.capKeyId] : [])))];
  const memberIds = [...new Set(owners.flatMap((o) => (o.memberId ? [o.memberId] : [])))];
  const k = q.t.apiKeys;
  const m = q.t.accountMembers;
  const rules = new Map<string, { who: "key" | "member"; id: string; rule: BudgetRule }>();
  const add = (who: "key" | "member", r: { id: string; micros: number | null; period: string | null }) => {
    const rule = ruleOf(r.micros, r.period);
    if (rule) rules.set(who === "key" ? keyOwner(r.id) : memberOwner(r.id), { who, id: r.id, rule });
  };
  if (keyIds.length > 0) for (const r of yield* all(q.db.select({ id: k.id, micros: k.budgetMicros, period: k.budgetPeriod }).from(k).where(inArray(k.id, keyIds)))) add("key", r);
  if (memberIds.length > 0) for (const r of yield* all(q.db.select({ id: m.id, micros: m.budgetMicros, period: m.budgetPeriod }).from(m).where(inArray(m.id, memberIds)))) add("member", r);
  const out = new Map<string, BudgetState>();
  if (rules.size === 0) return out;
  const starts = new Map([...rules].map(([owner, r]) => [owner, clock.periodStart(r.rule.period, now)]));
  const s = q.t.budgetSpend;
  const days = yield* all(q.db.select({ owner: s.owner, day: s.day, spent: s.spentMicros }).from(s)
    .where(and(inArray(s.owner, [...rules.keys()]), gte(s.day, Math.min(...starts.values())))));
  const spent = new Map<string, number>();
  for (const d of days) if (d.day >= starts.get(d.owner)!) spent.set(d.owner, (spent.get(d.owner) ?? 0) + Number(d.spent));
  for (const [owner, r] of rules) {
    const used = spent.get(owner) ?? 0;
    out.set(owner, {
      scope: r.who, id: r.id, period: r.rule.period, limit: r.rule.micros, spent: used, held: 0, remaining: r.rule.micros - used,
      periodStart: starts.get(owner)!, resetsAt: clock.periodEnd(r.rule.period, now),
    });
  }
  return out;
}
