import type { BudgetClock } from "./budget-clock";
import type { SettleJournal } from "./settle-journal";

/** How the embedded credit store is set up (see SqliteCreditStore). */
export interface SqliteCreditStoreOptions {
  holdTtlMs: number;
  now?: () => number;
  /**
   * With a journal, a settlement is durable once appended to it, and reaches SQLite at most
   * `applyMs` later in a larger batch (see SettleJournal). Without one, every group commit is a
   * SQLite transaction before its responses complete.
   */
  journal?: SettleJournal;
  applyMs?: number;
  /** See SettleSinkOptions.sliceSize and earlyBatch. */
  applySlice?: number;
  applyEarly?: number;
  /** Where budget periods begin (budget_timezone); default UTC. */
  budgetClock?: BudgetClock;
}
