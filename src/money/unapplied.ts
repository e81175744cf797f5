import { decrement, increment } from "../lib/tally";
import { BudgetClock } from "./budget-clock";
import { ownersOf } from "./budgets";
import type { SettleRecord } from "./settle-journal";

/**
 * Settlements durable in the journal but not yet written to SQLite, with their charges summed per
 * account, per key and per budget owner and day: the credit store subtracts these from the
 * balances and adds them to the key and budget spends it reads from SQLite, so that nothing it
 * reports or checks lags the journal.
 */
export class Unapplied {
  private readonly ops: SettleRecord[] = [];
  private readonly byAccount = new Map<string, number>();
  private readonly byKey = new Map<string, number>();
  /** Budget owner → day → charges (see BudgetClock.dayStart). */
  private readonly byBudget = new Map<string, Map<number, number>>();
  private readonly charged = new Set<string>();
  /** Settlements here that record stored objects (a response, its items) not in SQLite yet. */
  private storing = 0;

  constructor(private readonly clock = new BudgetClock()) {}

  get size(): number {
    return this.ops.length;
  }

  /** Whether stored objects wait here for SQLite (a lookup that misses one must write them out first). */
  get storesObjects(): boolean {
    return this.storing > 0;
  }

  add(op: SettleRecord): void {
    this.ops.push(op);
    if (op.extras?.object) this.storing++;
    if (op.charge <= 0) return;
    this.charged.add(op.requestId);
    increment(this.byAccount, op.accountId, op.charge);
    const key = op.capKeyId ?? op.keyId;
    if (key) increment(this.byKey, key, op.charge);
    this.budgets(op, op.charge);
  }

  /** Hands the oldest `max` settlements over for writing; each must come back through `written` or `keep`. */
  take(max = Number.POSITIVE_INFINITY): SettleRecord[] {
    // Moved out of the long-lived array rather than handing the array over: a discarded array the
    // collector had already promoted would keep every record in it alive until a full collection.
    return this.ops.splice(0, max);
  }

  /** `op` (from `take`) is in SQLite now: its charge no longer counts here. */
  written(op: SettleRecord): void {
    if (op.extras?.object) this.storing--;
    if (op.charge <= 0) return;
    this.charged.delete(op.requestId);
    decrement(this.byAccount, op.accountId, op.charge);
    const key = op.capKeyId ?? op.keyId;
    if (key) decrement(this.byKey, key, op.charge);
    this.budgets(op, -op.charge);
  }

  /** `op` (from `take`) could not be written: it waits for the next batch. */
  keep(op: SettleRecord): void {
    this.ops.push(op);
  }

  accountCharges(accountId: string): number {
    return this.byAccount.get(accountId) ?? 0;
  }

  keyCharges(keyId: string): number {
    return this.byKey.get(keyId) ?? 0;
  }

  /** A budget owner's charges on days from `from` (a period's start) on. */
  budgetCharges(owner: string, from: number): number {
    let sum = 0;
    for (const [day, micros] of this.byBudget.get(owner) ?? []) if (day >= from) sum += micros;
    return sum;
  }

  hasCharged(requestId: string): boolean {
    return this.charged.has(requestId);
  }

  private budgets(op: SettleRecord, delta: number): void {
    const day = this.clock.dayStart(op.at);
    for (const owner of ownersOf(op)) {
      let days = this.byBudget.get(owner);
      if (!days) this.byBudget.set(owner, (days = new Map()));
      const next = (days.get(day) ?? 0) + delta;
      if (next === 0) days.delete(day);
      else days.set(day, next);
      if (days.size === 0) this.byBudget.delete(owner);
    }
  }
}
