import type { Config } from "../../config/load";
import type { Store } from "../../store/store";
import { microsToUsd } from "../../money/units";
import { accountRow } from "../accounts/service";
import type { Balance, CreditStore } from "../../money/credit-store";
import type { LowBalanceViewT } from "./model";
import type { AlertNotifier } from "./notifier";
import type { CreditNote } from "./credits";
import { eventViews, fire, isArmed, noteCredit, rearmIfClear, sameThreshold, saveThreshold, settingsRow, type HeldElsewhere, type SettingsRow } from "./work";

/**
 * Low-balance alerts: one notification each time an account's available credit falls below its
 * threshold. The `armed` flag is flipped by a conditional update in the transaction that records
 * the alert, so concurrent checks (or processes, or gateway instances) fire once per crossing;
 * being back at or above the threshold re-arms it. A credit this gateway posts decides in its own
 * transaction (`creditNote`): it re-arms the alert at once if available credit is back at the
 * threshold, and otherwise marks itself seen, so that holds keeping available credit below it
 * never count as a crossing above. A credit that no check observed (a top-up by the CLI, in another
 * process) re-arms it if it took the balance to the threshold: its holds are unknown there. Anything
 * else that lifts available credit back above the threshold (a lower threshold set by the customer,
 * released holds) re-arms it only `alert_refire_seconds` after it last fired, so a key that moves
 * its threshold up and down cannot turn each change into a webhook and an email. Deliveries start
 * only after the alert's transaction has committed.
 */
export class AlertService {
  private pending = new Set<string>();
  private scheduled = false;
  private readonly checking = new Set<Promise<unknown>>();
  /**
   * What other processes' requests may hold of an account (other instances on PostgreSQL): a
   * re-arm counts it, or a credit posted here would re-arm an alert whose crossing another
   * instance's holds still keep.
   */
  private heldElsewhere?: HeldElsewhere;
  /** Settings rows kept while the change stamp stands: `check` runs after every charge. */
  private memo = { stamp: -1, rows: new Map<string, SettingsRow | null>() };

  constructor(
    private readonly store: Store,
    private readonly config: Config,
    private readonly balanceOf: (accountId: string) => Balance,
    readonly notifier: AlertNotifier,
    private readonly now: () => number = Date.now,
  ) {}

  get defaultThreshold(): number {
    return this.config.low_balance_threshold_usd;
  }

  private get refireMs(): number {
    return this.config.alert_refire_seconds * 1000;
  }

  /** Compares available credit with the threshold; resolves to the id of the alert it fired, if any. */
  async check(accountId: string): Promise<string | null> {
    const row = await this.settings(accountId);
    const threshold = this.thresholdOf(row);
    if (threshold <= 0) return null;
    let available: number;
    try {
      available = this.balanceOf(accountId).available;
    } catch {
      return null;
    }
    const now = this.now();
    if (available >= threshold) {
      if (row && !row.armed && mayRearm(row, now, this.refireMs)) {
        await this.store.tx((q) => rearmIfClear(q, { accountId, available, threshold, elsewhere: this.heldElsewhere }, now));
      }
      return null;
    }
    if (row && !(await this.store.read((q) => isArmed(q, row, threshold)))) return null;
    const status = this.notifier.initialStatus();
    const id = await this.store.tx((q) => fire(q, { accountId, available, threshold, status }, now));
    if (id) this.notifier.enqueue(id);
    return id;
  }

  /**
   * Taken right before a transaction that credits the account; run in it after the credit, so the
   * decision commits with the credit and no check, here or elsewhere, sees the credit without it.
   * The holds are read now, not in the transaction: a rollback would leave the rows the credit
   * store read there memoised. Null when the account is unknown here (left to the scan).
   */
  creditNote(accountId: string): CreditNote | null {
    let held: number;
    try {
      held = this.balanceOf(accountId).held;
    } catch {
      return null;
    }
    const defaultThreshold = this.defaultThreshold;
    const elsewhere = this.heldElsewhere;
    return (q, ledgerId) => noteCredit(q, { accountId, ledgerId, held, elsewhere, defaultThreshold }, this.now());
  }

  /** Checks the account soon (once per event-loop turn however many settlements asked). */
  schedule(accountId: string): void {
    this.pending.add(accountId);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const ids = [...this.pending];
      this.pending.clear();
      for (const id of ids) {
        if (this.off(id)) continue;
        const p = this.check(id)
          .catch((e) => console.error(`low-balance check of ${id} failed:`, e))
          .finally(() => this.checking.delete(p));
        this.checking.add(p);
      }
    });
  }

  /** Resolves once scheduled checks ran and their deliveries finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.scheduled || this.checking.size) {
      if (this.scheduled) await new Promise((r) => setImmediate(r));
      else await Promise.all([...this.checking]);
    }
    await this.notifier.idle();
  }

  /** A low-balance check after every committed settlement that charged something. */
  watch(store: CreditStore): void {
    store.onCharge((accountId) => this.schedule(accountId));
    if (store.heldElsewhere) this.heldElsewhere = store.heldElsewhere.bind(store);
  }

  async view(accountId: string, recent = 10): Promise<LowBalanceViewT> {
    const fallback = this.defaultThreshold;
    const { row, threshold, armed, events } = await this.store.read(function* (q) {
      yield* accountRow(q, accountId);
      const row = yield* settingsRow(q, accountId);
      const threshold = row?.thresholdMicros ?? fallback;
      return { row, threshold, armed: row ? yield* isArmed(q, row, threshold) : true, events: yield* eventViews(q, accountId, recent) };
    });
    return {
      object: "low_balance_alert",
      account_id: accountId,
      threshold_micros: threshold,
      threshold_usd: microsToUsd(threshold),
      source: row?.thresholdMicros != null ? "account" : "default",
      default_threshold_micros: this.defaultThreshold,
      armed,
      last_fired_at: row?.lastFiredAt ? Math.floor(row.lastFiredAt / 1000) : null,
      channels: this.notifier.channels,
      recent: events,
    };
  }

  /**
   * Sets (or with null, clears) the account's own threshold; audited. The threshold it already
   * has is a read: no write, no audit row, no check. A change is an ordinary commit, not a
   * durable (fsynced) one: it moves no money, it and its audit row commit or are lost together,
   * and WAL survives a crash or kill -9 without the fsync; only a power loss may forget the last
   * change, as it may forget an alert's firing, which commits the same way.
   */
  async setThreshold(accountId: string, thresholdMicros: number | null, actor: string): Promise<LowBalanceViewT> {
    const current = await this.store.read(function* (q) {
      yield* accountRow(q, accountId);
      return yield* settingsRow(q, accountId);
    });
    if (sameThreshold(current, thresholdMicros)) return this.view(accountId);
    const now = this.now();
    const refireMs = this.refireMs;
    // Every instance re-reads the settings it keeps.
    const changed = await this.store.tx(function* (q) {
      yield* accountRow(q, accountId);
      // A new threshold re-arms a fired alert only once the refire interval has passed.
      return yield* saveThreshold(q, accountId, thresholdMicros, actor, (before) => !before || before.armed || mayRearm(before, now, refireMs), now);
    }, { notify: true });
    if (changed) await this.check(accountId);
    return this.view(accountId);
  }

  private thresholdOf(row: SettingsRow | null): number {
    return row?.thresholdMicros ?? this.defaultThreshold;
  }

  /** No threshold for the account (its kept settings say so): nothing to check, no promise made. */
  private off(accountId: string): boolean {
    const row = this.kept(accountId);
    return row !== undefined && this.thresholdOf(row) <= 0;
  }

  /** The account's settings row if it is kept under the current change stamp (null: it has none). */
  private kept(accountId: string): SettingsRow | null | undefined {
    const stamp = this.store.changeStamp();
    if (stamp !== this.memo.stamp) this.memo = { stamp, rows: new Map() };
    return this.memo.rows.get(accountId);
  }

  /** The settings row outside a transaction, memoised under the change stamp. */
  private async settings(accountId: string): Promise<SettingsRow | null> {
    const hit = this.kept(accountId);
    if (hit !== undefined) return hit;
    const stamp = this.memo.stamp;
    const rows = this.memo.rows;
    const row = (await this.store.read((q) => settingsRow(q, accountId))) ?? null;
    // Kept only if nothing changed meanwhile (bounded: a flood of distinct ids only costs a re-read).
    if (this.store.changeStamp() === stamp && this.memo.rows === rows) {
      if (rows.size >= 10_000) rows.clear();
      rows.set(accountId, row);
    }
    return row;
  }
}

/** Whether the refire interval has passed since the alert last fired. */
function mayRearm(row: SettingsRow, now: number, refireMs: number): boolean {
  return row.lastFiredAt === null || now - row.lastFiredAt >= refireMs;
}
