import type { Statement } from "bun:sqlite";
import type { SqliteStore } from "../store/sqlite-store";
import { StampedMemo } from "../store/stamped-memo";
import { decrement, increment } from "../lib/tally";
import type { BudgetClock } from "./budget-clock";
import { keyOwner, memberOwner, ruleOf, type BudgetRule, type BudgetState } from "./budgets";
import type { BudgetAdd } from "./settle-writer";
import type { Unapplied } from "./unapplied";

/** An owner's spend per day, from `from` (the earliest period start in use when read) on. */
interface Days {
  from: number;
  days: Map<number, number>;
}

/**
 * The credit store's view of budgets: member budgets and the spend per budget owner and day
 * (budget_spend), memoised like balances, plus what requests in flight hold per member. Keys'
 * budgets come with the key rows the store already keeps. Everything it reports includes the
 * charges still only in the journal (Unapplied).
 */
export class BudgetBook {
  private readonly heldByMember = new Map<string, number>();
  private readonly members: StampedMemo<{ budget_micros: number | null; budget_period: string | null } | null>;
  private readonly spend: StampedMemo<Days>;
  private readonly q: { member: Statement<{ budget_micros: number | null; budget_period: string | null }, [string]>; days: Statement<{ day: number; spent_micros: number }, [string, number]> };

  constructor(
    store: SqliteStore,
    readonly clock: BudgetClock,
    private readonly unapplied: () => Unapplied,
    private readonly now: () => number,
  ) {
    this.q = {
      member: store.sqlite.query("SELECT budget_micros, budget_period FROM account_members WHERE id = ?"),
      days: store.sqlite.query("SELECT day, spent_micros FROM budget_spend WHERE owner = ? AND day >= ?"),
    };
    this.members = new StampedMemo(store, (id) => this.q.member.get(id));
    this.spend = new StampedMemo(store, (owner) => this.readDays(owner, this.earliestStart(this.now())));
  }

  /** Where the key line's budget (rule read from its newest key) and the member's stand at `now`. */
  states(q: { capKeyId: string | null; keyRule: BudgetRule | null; keyHeld: number; memberId: string | null }, now = this.now()): BudgetState[] {
    const out: BudgetState[] = [];
    if (q.capKeyId && q.keyRule) out.push(this.state("key", q.capKeyId, q.keyRule, q.keyHeld, now));
    if (q.memberId) {
      const m = this.members.get(q.memberId);
      const rule = ruleOf(m?.budget_micros, m?.budget_period);
      if (rule) out.push(this.state("member", q.memberId, rule, this.heldByMember.get(q.memberId) ?? 0, now));
    }
    return out;
  }

  hold(memberId: string | null, amount: number): void {
    if (memberId) increment(this.heldByMember, memberId, amount);
  }

  unhold(memberId: string | null, amount: number): void {
    if (memberId) decrement(this.heldByMember, memberId, amount);
  }

  /** After an absorbed SQLite commit: the memoised days follow it. */
  absorb(adds: readonly BudgetAdd[]): void {
    for (const a of adds) {
      const row = this.spend.peek(a.owner);
      if (row && a.day >= row.from) increment(row.days, a.day, a.micros);
    }
  }

  private state(scope: "key" | "member", id: string, rule: BudgetRule, held: number, now: number): BudgetState {
    const owner = scope === "key" ? keyOwner(id) : memberOwner(id);
    const periodStart = this.clock.periodStart(rule.period, now);
    const spent = this.spentSince(owner, periodStart) + this.unapplied().budgetCharges(owner, periodStart);
    return {
      scope, id, period: rule.period, limit: rule.micros, spent, held, remaining: rule.micros - spent - held,
      periodStart, resetsAt: this.clock.periodEnd(rule.period, now),
    };
  }

  private spentSince(owner: string, from: number): number {
    let row = this.spend.get(owner);
    // Read before this period began (a clock set back in tests): read again from its start.
    if (from < row.from) row = this.readDays(owner, from);
    let sum = 0;
    for (const [day, micros] of row.days) if (day >= from) sum += micros;
    return sum;
  }

  private readDays(owner: string, from: number): Days {
    const days = new Map<number, number>();
    for (const r of this.q.days.all(owner, from)) days.set(r.day, r.spent_micros);
    return { from, days };
  }

  /** The earliest start of a current period (a week may begin in the previous month). */
  private earliestStart(now: number): number {
    return Math.min(this.clock.periodStart("week", now), this.clock.periodStart("month", now));
  }
}
