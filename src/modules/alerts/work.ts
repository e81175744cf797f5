import { and, desc, eq, gt, gte, isNull, lt, max, sql } from "drizzle-orm";
import type { alertSettings } from "../../store/schema";
import { all, get, run, type Q, type Work } from "../../store/work";
import { randomBase62 } from "../../lib/ids";
import { recordAudit } from "../audit/service";
import type { CreditStore } from "../../money/credit-store";
import type { AlertEventViewT } from "./model";

/* The low-balance alert's units of work (service.ts decides when to run them). */

export type SettingsRow = typeof alertSettings.$inferSelect;

export function* settingsRow(q: Q, accountId: string): Work<SettingsRow | undefined> {
  return yield* get(q.db.select().from(q.t.alertSettings).where(eq(q.t.alertSettings.accountId, accountId)));
}

/**
 * Armed, or disarmed but credited back to the threshold since it fired. Credits this gateway posts
 * are decided in their own transaction (noteCredit), so the scan only meets credits no process
 * observed (the CLI's): their holds unknown, their balance stands for available credit.
 */
export function* isArmed(q: Q, row: SettingsRow, threshold: number): Work<boolean> {
  return row.armed || (yield* creditedBack(q, row, threshold));
}

/** A credit after the alert fired (and before ledger entry `before`) that left the balance at the threshold. */
function* creditedBack(q: Q, row: SettingsRow, threshold: number, before?: number): Work<boolean> {
  const l = q.t.ledgerEntries;
  const credited = yield* get(q.db.select({ id: l.id }).from(l)
    .where(and(
      eq(l.accountId, row.accountId),
      gt(l.id, row.firedLedgerId ?? 0),
      before === undefined ? undefined : lt(l.id, before),
      gt(l.amountMicros, 0),
      gte(l.balanceAfterMicros, threshold),
    ))
    .limit(1));
  return credited !== undefined;
}

/** The account's newest ledger entry's id (0: none). */
function* newestEntry(q: Q, accountId: string): Work<number> {
  const l = q.t.ledgerEntries;
  const top = yield* get(q.db.select({ id: max(l.id) }).from(l).where(eq(l.accountId, accountId)));
  return top?.id ?? 0;
}

export interface Credited {
  accountId: string;
  /** The credit's ledger entry. */
  ledgerId: number;
  /** What requests in flight held, read right before the credit's transaction. */
  held: number;
  /** What other processes' requests may hold, read in the transaction. */
  elsewhere?: HeldElsewhere;
  defaultThreshold: number;
}

/**
 * In the unit of work that credited the account, after the credit: a fired alert re-arms if
 * available credit (the balance less holds) is back at the threshold, at once since a credit did
 * it. Still below, the account's entries up to the credit count as observed (fired_ledger_id moves
 * up to it), so no check counts the credit as a crossing above. A credit before it that no process
 * observed and that reached the threshold is left to isArmed, which counts it.
 */
export function* noteCredit(q: Q, c: Credited, now: number): Work<void> {
  const row = yield* settingsRow(q, c.accountId);
  if (!row || row.armed) return;
  const threshold = row.thresholdMicros ?? c.defaultThreshold;
  if (threshold <= 0) return;
  // The balance as the credit left it (a durable transaction writes the journaled charges first).
  const a = q.t.accounts;
  const account = yield* get(q.db.select({ balance: a.balanceMicros }).from(a).where(eq(a.id, c.accountId)));
  if (!account) return;
  const available = Number(account.balance) - c.held;
  if (yield* rearmIfClear(q, { accountId: c.accountId, available, threshold, elsewhere: c.elsewhere }, now)) return;
  if (yield* creditedBack(q, row, threshold, c.ledgerId)) return;
  const s = q.t.alertSettings;
  // The credit is the account's newest entry: its update of the account row holds off every other.
  const seen = { firedLedgerId: c.ledgerId, updatedAt: now };
  yield* run(q.db.update(s).set(seen).where(and(eq(s.accountId, c.accountId), eq(s.armed, false))));
}

/** What other processes' requests may hold of an account (CreditStore.heldElsewhere: other instances on PostgreSQL). */
export type HeldElsewhere = NonNullable<CreditStore["heldElsewhere"]>;

/**
 * Re-arms the alert (it may fire again) if available credit, less what other processes may hold,
 * is back at or above the threshold; says whether it was. Every re-arm decides here.
 */
export function* rearmIfClear(q: Q, c: { accountId: string; available: number; threshold: number; elsewhere?: HeldElsewhere }, now: number): Work<boolean> {
  const others = c.elsewhere ? yield* c.elsewhere(q, c.accountId, now) : 0;
  if (c.available - others < c.threshold) return false;
  const s = q.t.alertSettings;
  yield* run(q.db.update(s).set({ armed: true, updatedAt: now }).where(and(eq(s.accountId, c.accountId), eq(s.armed, false))));
  return true;
}

export interface Crossing {
  accountId: string;
  available: number;
  threshold: number;
  /** The delivery statuses the event starts with (AlertNotifier.initialStatus). */
  status: { webhookStatus: string; emailStatus: string };
}

/**
 * Records the alert of a crossing and disarms it; resolves to the new event's id, or null when the
 * alert is not armed. Of several processes racing on the same crossing only one fires: the one
 * whose insert of the settings row, or conditional update of the row as it read it, took effect.
 */
export function* fire(q: Q, c: Crossing, now: number): Work<string | null> {
  const s = q.t.alertSettings;
  const cur = yield* settingsRow(q, c.accountId);
  if (cur && !(yield* isArmed(q, cur, c.threshold))) return null;
  const fired = { armed: false, firedLedgerId: yield* newestEntry(q, c.accountId), lastFiredAt: now, updatedAt: now };
  const asRead = cur && and(eq(s.accountId, c.accountId), eq(s.armed, cur.armed), cur.firedLedgerId === null ? isNull(s.firedLedgerId) : eq(s.firedLedgerId, cur.firedLedgerId));
  const won = asRead
    ? yield* run(q.db.update(s).set(fired).where(asRead))
    : yield* run(q.db.insert(s).values({ accountId: c.accountId, thresholdMicros: null, ...fired }).onConflictDoNothing());
  if (won.changes !== 1) return null;
  const e = q.t.alertEvents;
  // Strictly increasing per account, so that created_at alone orders the account's alerts (PostgreSQL has no rowid).
  const last = yield* get(q.db.select({ at: max(e.createdAt) }).from(e).where(eq(e.accountId, c.accountId)));
  const id = `alr_${randomBase62(20)}`;
  yield* run(q.db.insert(e).values({
    id,
    accountId: c.accountId,
    kind: "low_balance",
    availableMicros: c.available,
    thresholdMicros: c.threshold,
    ...c.status,
    attempts: 0,
    createdAt: Math.max(now, (last?.at ?? -1) + 1),
  }));
  return id;
}

/** Whether the account's own threshold is already `thresholdMicros` (null: none of its own). */
export const sameThreshold = (row: SettingsRow | null | undefined, thresholdMicros: number | null): boolean =>
  (row?.thresholdMicros ?? null) === thresholdMicros;

/**
 * Sets (or with null, clears) the account's threshold, audited; `armed` says whether a fired
 * alert is re-armed. The same threshold again writes nothing, audit included: false.
 */
export function* saveThreshold(
  q: Q,
  accountId: string,
  thresholdMicros: number | null,
  actor: string,
  armed: (before: SettingsRow | undefined) => boolean,
  now: number,
): Work<boolean> {
  const s = q.t.alertSettings;
  const before = yield* settingsRow(q, accountId);
  if (sameThreshold(before, thresholdMicros)) return false;
  const set = { thresholdMicros, armed: armed(before), updatedAt: now };
  yield* run(q.db.insert(s).values({ accountId, ...set }).onConflictDoUpdate({ target: s.accountId, set }));
  yield* recordAudit(q, {
    actor,
    action: "alerts.low_balance.update",
    targetType: "account",
    targetId: accountId,
    before: { threshold_micros: before?.thresholdMicros ?? null },
    after: { threshold_micros: thresholdMicros },
  }, now);
  return true;
}

/** The account's latest alerts, newest first. */
export function* eventViews(q: Q, accountId: string, limit: number): Work<AlertEventViewT[]> {
  const e = q.t.alertEvents;
  // Alerts recorded before created_at was made strictly increasing may share a millisecond: SQLite's rowid orders them.
  const tie = q.dialect === "sqlite" ? sql`rowid` : e.id;
  const rows = yield* all(q.db.select().from(e).where(eq(e.accountId, accountId)).orderBy(desc(e.createdAt), desc(tie)).limit(limit));
  return rows.map((r) => ({
    id: r.id,
    object: "alert_event" as const,
    kind: "low_balance" as const,
    available_micros: r.availableMicros,
    threshold_micros: r.thresholdMicros,
    webhook_status: r.webhookStatus as AlertEventViewT["webhook_status"],
    email_status: r.emailStatus as AlertEventViewT["email_status"],
    created_at: Math.floor(r.createdAt / 1000),
  }));
}
