import { and, desc, eq, gt, gte, max, sql } from "drizzle-orm";
import type { Config } from "../../config/load";
import type { SqliteStore } from "../../store/sqlite-store";
import { alertEvents, alertSettings, ledgerEntries } from "../../store/schema";
import { StampedMemo } from "../../store/stamped-memo";
import { randomBase62 } from "../../lib/ids";
import { microsToUsd } from "../../money/units";
import { getAccountRowSync } from "../accounts/service";
import { audit } from "../audit/service";
import type { Balance, CreditStore } from "../../money/credit-store";
import type { AlertEventViewT, LowBalanceViewT } from "./model";
import type { AlertNotifier } from "./notifier";

type SettingsRow = typeof alertSettings.$inferSelect;

/**
 * Low-balance alerts: one notification each time an account's available credit falls below its
 * threshold. The `armed` flag is flipped in the same write transaction that records the alert, so
 * concurrent checks (or processes) fire once per crossing; being back at or above the threshold
 * re-arms it. A credit that reached the threshold since the last alert also re-arms it, so a
 * crossing above that no check happened to observe (a top-up by the CLI, say) still counts.
 * Anything else that lifts available credit back above the threshold (a lower threshold set by
 * the customer, released holds) re-arms it only `alert_refire_seconds` after it last fired, so a
 * key that moves its threshold up and down cannot turn each change into a webhook and an email.
 */
export class AlertService {
  private pending = new Set<string>();
  private scheduled = false;
  /** Prepared once: `check` runs after every settlement, so the query is not rebuilt each time. */
  private readonly settingsQuery;
  /** The settings row outside a transaction, memoised: `check` runs after every charge. */
  private readonly settingsMemo: StampedMemo<SettingsRow | null>;

  constructor(
    private readonly store: SqliteStore,
    private readonly config: Config,
    private readonly balanceOf: (accountId: string) => Balance,
    readonly notifier: AlertNotifier,
    private readonly now: () => number = Date.now,
  ) {
    this.settingsQuery = store.db.select().from(alertSettings).where(eq(alertSettings.accountId, sql.placeholder("id"))).prepare();
    this.settingsMemo = new StampedMemo(store, (id) => this.settingsRow(id) ?? null);
  }

  get defaultThreshold(): number {
    return this.config.low_balance_threshold_usd;
  }

  /** Compares available credit with the threshold; returns the id of the alert it fired, if any. */
  check(accountId: string): string | null {
    const row = this.settingsMemo.get(accountId);
    const threshold = row?.thresholdMicros ?? this.defaultThreshold;
    if (threshold <= 0) return null;
    let available: number;
    try {
      available = this.balanceOf(accountId).available;
    } catch {
      return null;
    }
    if (available >= threshold) {
      if (row && !row.armed && this.mayRearm(row)) {
        this.store.write(() =>
          this.store.db.update(alertSettings).set({ armed: true, updatedAt: this.now() })
            .where(and(eq(alertSettings.accountId, accountId), eq(alertSettings.armed, false))).run(),
        );
      }
      return null;
    }
    if (row && !this.isArmed(row, threshold)) return null;
    const id = this.store.write(() => {
      // Re-read inside the write lock: whoever flips the flag first is the only one to fire.
      const cur = this.settingsRow(accountId);
      if (cur && !this.isArmed(cur, threshold)) return null;
      const now = this.now();
      const top = this.store.db.select({ id: max(ledgerEntries.id) }).from(ledgerEntries).where(eq(ledgerEntries.accountId, accountId)).get();
      const fired = { armed: false, firedLedgerId: top?.id ?? 0, lastFiredAt: now, updatedAt: now };
      this.store.db.insert(alertSettings).values({ accountId, thresholdMicros: null, ...fired })
        .onConflictDoUpdate({ target: alertSettings.accountId, set: fired }).run();
      const eventId = `alr_${randomBase62(20)}`;
      this.store.db.insert(alertEvents).values({
        id: eventId,
        accountId,
        kind: "low_balance",
        availableMicros: available,
        thresholdMicros: threshold,
        ...this.notifier.initialStatus(),
        attempts: 0,
        createdAt: now,
      }).run();
      return eventId;
    });
    if (id) this.notifier.enqueue(id);
    return id;
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
        try {
          this.check(id);
        } catch (e) {
          console.error(`low-balance check of ${id} failed:`, e);
        }
      }
    });
  }

  /** Resolves once scheduled checks ran and their deliveries finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.scheduled) await new Promise((r) => setImmediate(r));
    await this.notifier.idle();
  }

  /** A low-balance check after every committed settlement that charged something. */
  watch(store: CreditStore): void {
    store.onCharge((accountId) => this.schedule(accountId));
  }

  view(accountId: string, recent = 10): LowBalanceViewT {
    getAccountRowSync(this.store, accountId);
    const row = this.settingsRow(accountId);
    const threshold = row?.thresholdMicros ?? this.defaultThreshold;
    return {
      object: "low_balance_alert",
      account_id: accountId,
      threshold_micros: threshold,
      threshold_usd: microsToUsd(threshold),
      source: row?.thresholdMicros != null ? "account" : "default",
      default_threshold_micros: this.defaultThreshold,
      armed: row ? this.isArmed(row, threshold) : true,
      last_fired_at: row?.lastFiredAt ? Math.floor(row.lastFiredAt / 1000) : null,
      channels: this.notifier.channels,
      recent: this.events(accountId, recent),
    };
  }

  /** Sets (or with null, clears) the account's own threshold; audited. */
  setThreshold(accountId: string, thresholdMicros: number | null, actor: string): LowBalanceViewT {
    const now = this.now();
    this.store.durable(() => {
      getAccountRowSync(this.store, accountId);
      const before = this.settingsRow(accountId);
      // A new threshold re-arms a fired alert only once the refire interval has passed.
      const armed = !before || before.armed || this.mayRearm(before);
      this.store.db.insert(alertSettings).values({ accountId, thresholdMicros, armed, updatedAt: now })
        .onConflictDoUpdate({ target: alertSettings.accountId, set: { thresholdMicros, armed, updatedAt: now } }).run();
      audit(this.store, {
        actor,
        action: "alerts.low_balance.update",
        targetType: "account",
        targetId: accountId,
        before: { threshold_micros: before?.thresholdMicros ?? null },
        after: { threshold_micros: thresholdMicros },
      }, now);
    });
    this.check(accountId);
    return this.view(accountId);
  }

  events(accountId: string, limit: number): AlertEventViewT[] {
    return this.store.db.select().from(alertEvents).where(eq(alertEvents.accountId, accountId))
      .orderBy(desc(alertEvents.createdAt), desc(sql`rowid`)).limit(limit).all()
      .map((e) => ({
        id: e.id,
        object: "alert_event" as const,
        kind: "low_balance" as const,
        available_micros: e.availableMicros,
        threshold_micros: e.thresholdMicros,
        webhook_status: e.webhookStatus as AlertEventViewT["webhook_status"],
        email_status: e.emailStatus as AlertEventViewT["email_status"],
        created_at: Math.floor(e.createdAt / 1000),
      }));
  }

  private settingsRow(accountId: string): SettingsRow | undefined {
    return this.settingsQuery.get({ id: accountId });
  }

  /** Whether the refire interval has passed since the alert last fired. */
  private mayRearm(row: SettingsRow): boolean {
    return row.lastFiredAt === null || this.now() - row.lastFiredAt >= this.config.alert_refire_seconds * 1000;
  }

  /** Armed, or disarmed but credited back to the threshold since it fired. */
  private isArmed(row: SettingsRow, threshold: number): boolean {
    if (row.armed) return true;
    const credited = this.store.db
      .select({ id: ledgerEntries.id })
      .from(ledgerEntries)
      .where(
        and(
          eq(ledgerEntries.accountId, row.accountId),
          gt(ledgerEntries.id, row.firedLedgerId ?? 0),
          gt(ledgerEntries.amountMicros, 0),
          gte(ledgerEntries.balanceAfterMicros, threshold),
        ),
      )
      .limit(1)
      .get();
    return credited !== undefined;
  }
}
