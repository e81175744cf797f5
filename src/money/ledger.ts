import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { SqliteStore } from "../store/sqlite-store";
import { accounts, creditHolds, ledgerEntries } from "../store/schema";
import { errors } from "../lib/errors";
import { MAX_BALANCE_MICROS, microsToUsd } from "./units";
import { getAccountRowSync } from "../modules/accounts/service";
import { audit } from "../modules/audit/service";
import { applyTierSync } from "../modules/ratelimit/service";
import { once } from "./idempotency";
import { journalPath, readJournal } from "./settle-journal";
import { increment } from "../lib/tally";
import type { LedgerEntryViewT } from "../modules/ledger/model";

export type LedgerRow = typeof ledgerEntries.$inferSelect;
type Kind = LedgerRow["kind"];

export interface PostCredit {
  accountId: string;
  amountMicros: number;
  note?: string | null;
  actor: string;
  /** Held micros that must stay covered (negative amounts may not make available credit negative). */
  heldMicros: number;
  kind?: Kind;
  ref?: string | null;
  idempotencyKey?: string;
  /** Refunds and lost disputes: post the full debit even below held credit (the ledger stays truthful). */
  allowNegative?: boolean;
}

/**
 * Adds credits (positive) or posts an adjustment (negative) in one fsynced transaction,
 * with the audit entry and, when given, the idempotency record.
 */
export function postCredit(store: SqliteStore, p: PostCredit, now = Date.now()): { entry: LedgerEntryViewT; replayed: boolean } {
  const { result, replayed } = store.durable(() =>
    once(store, `credits:${p.accountId}`, p.idempotencyKey, { amount: p.amountMicros, note: p.note ?? null }, () => applyCredit(store, p, now), now),
  );
  return { entry: result, replayed };
}

/** postCredit's work without its transaction, for callers that write more in the same one. */
export function applyCredit(store: SqliteStore, p: Omit<PostCredit, "idempotencyKey">, now = Date.now()): LedgerEntryViewT {
  const account = getAccountRowSync(store, p.accountId);
  const balance = account.balanceMicros + p.amountMicros;
  if (p.amountMicros < 0 && !p.allowNegative && balance - p.heldMicros < 0) {
    throw errors.badRequest(
      `The adjustment exceeds the available credit (${microsToUsd(account.balanceMicros - p.heldMicros)} USD).`,
      "amount_micros",
      "insufficient_available_credit",
    );
  }
  if (p.amountMicros > 0 && balance > MAX_BALANCE_MICROS) throw balanceLimit(balance, "amount_micros");
  const kind: Kind = p.kind ?? (p.amountMicros > 0 ? "topup" : "adjustment");
  const topup = kind === "adjustment" || p.amountMicros < 0 ? 0 : p.amountMicros;
  store.db.update(accounts)
    .set({
      balanceMicros: sql`${accounts.balanceMicros} + ${p.amountMicros}`,
      lifetimeTopupMicros: sql`${accounts.lifetimeTopupMicros} + ${topup}`,
    })
    .where(eq(accounts.id, p.accountId))
    .run();
  const entry = store.db
    .insert(ledgerEntries)
    .values({
      accountId: p.accountId,
      kind,
      amountMicros: p.amountMicros,
      balanceAfterMicros: balance,
      ref: p.ref ?? null,
      note: p.note ?? null,
      createdAt: now,
    })
    .returning()
    .get();
  audit(store, {
    actor: p.actor,
    action: `credits.${kind}`,
    targetType: "account",
    targetId: p.accountId,
    before: { balance_micros: account.balanceMicros },
    after: { balance_micros: balance, amount_micros: p.amountMicros, note: p.note ?? null, ledger_id: entry.id },
  }, now);
  // Usage tiers: a top-up may move the account to a higher plan (same transaction, audited).
  if (topup > 0) applyTierSync(store, p.accountId, "system", now);
  return ledgerView(entry);
}

/** The refusal of a credit that would take a balance above MAX_BALANCE_MICROS (nothing is committed). */
export function balanceLimit(balanceAfter: number, param: string) {
  return errors.badRequest(
    `An account's balance is limited to ${microsToUsd(MAX_BALANCE_MICROS)} USD: this credit would bring it to ${microsToUsd(balanceAfter)} USD.`,
    param,
    "balance_limit_exceeded",
  );
}

export function listLedger(store: SqliteStore, accountId: string, q: { limit: number; before?: number }): LedgerRow[] {
  return store.db
    .select()
    .from(ledgerEntries)
    .where(and(eq(ledgerEntries.accountId, accountId), q.before ? lt(ledgerEntries.id, q.before) : undefined))
    .orderBy(desc(ledgerEntries.id))
    .limit(q.limit)
    .all();
}

/** Sum of persisted holds (for processes, like the CLI, that do not own the in-memory holds). */
export function persistedHeld(store: SqliteStore, accountId: string): number {
  const row = store.db
    .select({ held: sql<number>`coalesce(sum(${creditHolds.amountMicros}), 0)` })
    .from(creditHolds)
    .where(eq(creditHolds.accountId, accountId))
    .get();
  return row?.held ?? 0;
}

/**
 * Charges a running gateway has made durable in its settlement journal but not yet written to
 * SQLite (at most `settle_batch_ms` of them), summed per account, for processes that read SQLite,
 * like the CLI: a record whose request id is already in the ledger was written and is not counted
 * twice. One read of the journal serves every account.
 */
export function unwrittenCharges(store: SqliteStore): Map<string, number> {
  const sums = new Map<string, number>();
  const file = store.sqlite.filename;
  if (!file || file === ":memory:") return sums;
  const inLedger = store.sqlite.query<{ one: number }, [string]>("SELECT 1 AS one FROM ledger_entries WHERE request_id = ?");
  for (const r of readJournal(journalPath(file))) {
    if (r.t === "settle" && r.charge > 0 && !inLedger.get(r.requestId)) increment(sums, r.accountId, r.charge);
  }
  return sums;
}

/** Integrity check: every balance equals the sum of its ledger entries. Returns the mismatches. */
export function checkLedger(store: SqliteStore): { accountId: string; balance: number; ledgerSum: number }[] {
  return store.sqlite
    .query<{ accountId: string; balance: number; ledgerSum: number }, []>(
      `SELECT a.id AS accountId, a.balance_micros AS balance, coalesce(sum(l.amount_micros), 0) AS ledgerSum
       FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id
       GROUP BY a.id HAVING a.balance_micros != coalesce(sum(l.amount_micros), 0)`,
    )
    .all();
}

export function ledgerView(r: LedgerRow): LedgerEntryViewT {
  return {
    id: r.id,
    object: "ledger_entry",
    account_id: r.accountId,
    kind: r.kind,
    amount_micros: r.amountMicros,
    amount_usd: microsToUsd(r.amountMicros),
    balance_after_micros: r.balanceAfterMicros,
    request_id: r.requestId,
    key_id: r.keyId,
    note: r.note,
    created_at: Math.floor(r.createdAt / 1000),
  };
}
