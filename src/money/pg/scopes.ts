import { sql } from "drizzle-orm";
import { rows, type Q, type Work } from "../../store/work";
import type { BudgetClock } from "../budget-clock";
import { keyOwner, memberOwner, type BudgetRule } from "../budgets";

/**
 * A credit scope: something a hold counts against and that the database bounds: an account's
 * balance, a key line's spending cap, or a budget in its current period. Instances lease credit
 * per scope (credit_leases), so every scope a hold draws on must be leased.
 */
export type Scope =
  | { kind: "acc"; key: string; accountId: string }
  | { kind: "cap"; key: string; keyId: string; cap: number }
  | { kind: "bud"; key: string; owner: string; who: "key" | "member"; id: string; rule: BudgetRule; periodStart: number; resetsAt: number }
  /** Concurrency slots of a rate-limit level: leased like credit, but returned when requests end. */
  | { kind: "conc"; key: string; slots: number };

export const accountScope = (accountId: string): Scope => ({ kind: "acc", key: `acc:${accountId}`, accountId });
export const capScope = (keyId: string, cap: number): Scope => ({ kind: "cap", key: `cap:${keyId}`, keyId, cap });

/** A budget in the period containing `now`: a new period is a new scope (its leases start at zero). */
export function budgetScope(who: "key" | "member", id: string, rule: BudgetRule, clock: BudgetClock, now: number): Scope {
  const owner = who === "key" ? keyOwner(id) : memberOwner(id);
  const periodStart = clock.periodStart(rule.period, now);
  return { kind: "bud", key: `bud:${owner}:${periodStart}`, owner, who, id, rule, periodStart, resetsAt: clock.periodEnd(rule.period, now) };
}

/** What the database says of a scope: how much it allows in all (before leases), and what was spent. */
export interface ScopeLimit {
  limit: number;
  /** The account's balance, the key line's spend, or the budget's spend in its period. */
  spent: number;
  active: boolean;
  /** A budget: what the leases of its owner's other periods lease beyond their holds (counted in `limit` until given back). */
  idle?: number;
}

/**
 * The scope's limit, read under its lock when leasing (the caller holds the scope's advisory lock,
 * which settlements take too, so the limit and the leases are read together; a page's read takes
 * none). `now` tells which leases of a budget's earlier periods are still live.
 */
export function* scopeLimit(q: Q, s: Scope, now: number): Work<ScopeLimit> {
  if (s.kind === "conc") return { limit: s.slots, spent: 0, active: true };
  if (s.kind === "acc") {
    const [a] = yield* rows<{ b: string | number; status: string }>(sql`SELECT balance_micros AS b, status FROM accounts WHERE id = ${s.accountId}`);
    return a ? { limit: Number(a.b), spent: 0, active: a.status === "active" } : { limit: 0, spent: 0, active: false };
  }
  if (s.kind === "cap") {
    const [k] = yield* rows<{ cap: string | number | null; spent: string | number }>(sql`SELECT spend_cap_micros AS cap, spent_micros AS spent FROM api_keys WHERE id = ${s.keyId}`);
    if (!k) return { limit: 0, spent: 0, active: false };
    const spent = Number(k.spent);
    return { limit: k.cap === null ? Number.MAX_SAFE_INTEGER : Number(k.cap) - spent, spent, active: true };
  }
  return yield* budgetLimit(q, s, now);
}

/**
 * A budget's period: its rule less what it spent, less what live leases of the owner's other
 * periods (an ended one, or one of a rule since changed) still lease. Holds taken there are charged
 * on the day they settle, so they count against this period, as every hold in flight does on
 * SQLite; what those leases hold beyond them is `idle`, asked back (LeaseBook.wanted) when this
 * period is short. One statement: a settlement moves its charge from such a lease to the spend in
 * one commit, seen whole or not at all.
 */
function* budgetLimit(q: Q, s: Extract<Scope, { kind: "bud" }>, now: number): Work<ScopeLimit> {
  void q;
  const [r] = yield* rows<{ spent: string | number | null; earlier: string | number | null; idle: string | number | null }>(sql`
    SELECT (SELECT sum(spent_micros) FROM budget_spend WHERE owner = ${s.owner} AND day >= ${s.periodStart}) AS spent, l.earlier, l.idle
    FROM (SELECT sum(amount_micros) AS earlier, sum(GREATEST(amount_micros - held_micros, 0)) AS idle FROM credit_leases
          WHERE starts_with(scope, ${`bud:${s.owner}:`}) AND scope <> ${s.key} AND expires_at > ${now}) l`);
  const spent = Number(r?.spent ?? 0);
  return { limit: s.rule.micros - spent - Number(r?.earlier ?? 0), spent, active: true, idle: Number(r?.idle ?? 0) };
}

/** Takes the scope's lock for the rest of the transaction (settlements and lease changes alike). */
export function* lockScope(q: Q, key: string): Work<void> {
  void q;
  yield* rows(sql`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`);
}

/** What bounds a scope besides the database (a cap, a budget's rule, a slot count): a change asks for a check. */
export function scopeBound(s: Scope): string | number {
  if (s.kind === "cap") return s.cap;
  if (s.kind === "bud") return `${s.rule.micros}/${s.rule.period}`;
  return s.kind === "conc" ? s.slots : 0;
}
