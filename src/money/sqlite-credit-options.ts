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

/** Journaled settlements start reaching SQLite this soon (the default of settle_batch_ms). */
export const APPLY_MS = 100;

/** What the store reads of a key for its spend, cap and budget. */
export type KeyRow = { spent_micros: number; spend_cap_micros: number | null; budget_micros: number | null; budget_period: string | null };
