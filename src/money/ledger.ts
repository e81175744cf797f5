import { and, desc, eq, inArray, lt, sql } from "drizzle-orm";
import type { SqliteStore } from "../store/sqlite-store";
import type { Store, TxOptions } from "../store/store";
import type { ledgerEntries } from "../store/schema";
import { all, get, rows, run, type Q, type Work } from "../store/work";
import { lockScope } from "./pg/scopes";
import { errors } from "../lib/errors";
import { MAX_BALANCE_MICROS, microsToUsd } from "./units";
import { accountRow } from "../modules/accounts/service";
import { recordAudit } from "../modules/audit/service";
import { applyTier } from "../modules/ratelimit/service";
import { chunks } from "../modules/usage/query";
import { once } from "./idempotency";
import { journalPath, readJournal, type SettleRecord } from "./settle-journal";
import { increment } from "../lib/tally";
import type { LedgerEntryViewT } from "../modules/ledger/model";

export type LedgerRow = typeof ledgerEntries.$inferSelect;
type Kind = LedgerRow["kind"];

export interface PostCredit {
  accountId: string;
  amountMicros: number;
  note?: string | null;
  actor: string;
  /**
   * Held micros that must stay covered (negative amounts may not make available credit negative);
   * a function is asked inside the transaction, after journaled charges had their chance to be written.
   */
  heldMicros: number | (() => number);
  kind?: Kind;
  ref?: string | null;
  idempotencyKey?: string;
  /** Refunds and lost disputes: post the full debit even below held credit (the ledger stays truthful). */
  allowNegative?: boolean;
}

/**
 * The ledger already has an entry of this kind and external reference for the account (another
 * request or process posted it first): thrown to undo the unit of work that tried to post it again.
 */
export class DuplicateRef extends Error {
  constructor(readonly ref: string) {
    super(`ledger reference ${ref} was already posted`);
  }
}

/**
 * Adds credits (positive) or posts an adjustment (negative) in one durable transaction, with the
 * audit entry and, when given, the idempotency record. `heldMicros` comes from the caller (the
 * serving process knows its holds). On SQLite the durable transaction first writes the
 * settlement journal's charges, so the entry comes after the charges made before it; every
 * instance re-reads the account (a tier may have moved its plan).
 */
export function postCredit(
  store: Store,
  p: PostCredit,
  now = Date.now(),
  /** Run in the same transaction after a new entry (not a replay), e.g. the low-balance alert's decision. */
  then?: (q: Q, entryId: number) => Work<void>,
): Promise<{ entry: LedgerEntryViewT; replayed: boolean }> {
  return store.tx(function* (q) {
    const r = yield* postCreditWork(q, p, now);
    if (then && !r.replayed) yield* then(q, r.entry.id);
    return r;
  }, creditTx(p.amountMicros));
}

/** The transaction a credit of `amountMicros` is posted in (postCredit's; for callers composing their own). */
export function creditTx(amountMicros: number): TxOptions {
  // A debit waits for the account's lock on PostgreSQL, then must see the leases committed while
  // it waited: a serializable snapshot, taken when the wait began, would not (no row conflict tells).
  return { durable: true, notify: true, isolation: amountMicros < 0 ? "read committed" : undefined };
}

/** postCredit as a unit of work. */
export function* postCreditWork(q: Q, p: PostCredit, now: number): Work<{ entry: LedgerEntryViewT; replayed: boolean }> {
  const body = { amount: p.amountMicros, note: p.note ?? null };
  const { result, replayed } = yield* once(q, `credits:${p.accountId}`, p.idempotencyKey, body, () => applyCredit(q, p, now), now);
  return { entry: result, replayed };
}

/** What live leases of the account hold on PostgreSQL, under the account's lock (leases take it too). */
function* leasedCredit(q: Q, accountId: string, now: number): Work<number> {
  yield* lockScope(q, `acc:${accountId}`);
  const [r] = yield* rows<{ n: string | number | null }>(sql`SELECT sum(amount_micros) AS n FROM credit_leases WHERE scope = ${`acc:${accountId}`} AND expires_at > ${now}`);
  return Number(r?.n ?? 0);
}

/**
 * postCredit's work without the idempotency record, for units of work that write more in the same
 * transaction. The account's row is updated (and so locked) before its entry is written, and the
 * entry's balance_after is the balance that update returned: concurrent settlements and credits of
 * the account queue on that row, so balance_after chains stay in order and every balance stays the
 * sum of its ledger. A refusal throws after the update, which undoes it with the unit of work.
 */
export function* applyCredit(q: Q, p: Omit<PostCredit, "idempotencyKey">, now = Date.now()): Work<LedgerEntryViewT> {
  const kind: Kind = p.kind ?? (p.amountMicros > 0 ? "topup" : "adjustment");
  const topup = kind === "adjustment" || p.amountMicros < 0 ? 0 : p.amountMicros;
  // A payment refunded (or lost in a dispute) was never paid: the tiers no longer count it (never below 0).
  const paid = kind === "refund" ? sql`${q.dialect === "postgres" ? sql.raw("greatest") : sql.raw("max")}(0, ${q.t.accounts.lifetimeTopupMicros} + ${p.amountMicros})` : null;
  // Several instances: a debit must leave every live lease covered (their holds are taken from them).
  const heldNow = typeof p.heldMicros === "function" ? p.heldMicros() : p.heldMicros;
  const held = q.dialect === "postgres" && p.amountMicros < 0 ? Math.max(heldNow, yield* leasedCredit(q, p.accountId, now)) : heldNow;
  const a = q.t.accounts;
  const moved = yield* get(q.db.update(a)
    .set({ balanceMicros: sql`${a.balanceMicros} + ${p.amountMicros}`, lifetimeTopupMicros: paid ?? sql`${a.lifetimeTopupMicros} + ${topup}` })
    .where(eq(a.id, p.accountId))
    .returning({ balance: a.balanceMicros }));
  if (!moved) throw errors.notFound(`Account ${p.accountId}`, "id");
  const balance = Number(moved.balance);
  const before = balance - p.amountMicros;
  if (p.amountMicros < 0 && !p.allowNegative && balance - held < 0) {
    throw errors.badRequest(
      `The adjustment exceeds the available credit (${microsToUsd(before - held)} USD).`,
      "amount_micros",
      "insufficient_available_credit",
    );
  }
  if (p.amountMicros > 0 && balance > MAX_BALANCE_MICROS) throw balanceLimit(balance, "amount_micros");
  const [entry] = yield* all(q.db.insert(q.t.ledgerEntries)
    .values({ accountId: p.accountId, kind, amountMicros: p.amountMicros, balanceAfterMicros: balance, ref: p.ref ?? null, note: p.note ?? null, createdAt: now })
    .onConflictDoNothing()
    .returning());
  // One entry per external reference: the unique (account, kind, ref) index decides, even across processes.
  if (!entry) throw new DuplicateRef(p.ref ?? "");
  yield* recordAudit(q, {
    actor: p.actor,
    action: `credits.${kind}`,
    targetType: "account",
    targetId: p.accountId,
    before: { balance_micros: before },
    after: { balance_micros: balance, amount_micros: p.amountMicros, note: p.note ?? null, ledger_id: entry.id },
  }, now);
  // Usage tiers: a top-up may move the account to a higher plan (same transaction, audited).
  if (topup > 0) yield* applyTier(q, p.accountId, "system", now);
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

export function listLedger(store: Store, accountId: string, f: { limit: number; before?: number }): Promise<LedgerRow[]> {
  return store.read((q) => {
    const l = q.t.ledgerEntries;
    return all(q.db.select().from(l).where(and(eq(l.accountId, accountId), f.before ? lt(l.id, f.before) : undefined)).orderBy(desc(l.id)).limit(f.limit));
  });
}

/** The settlement journal of a gateway serving the database file (none for an in-memory database). */
export const serveJournal = (store: SqliteStore): SettleRecord[] => (store.file ? readJournal(journalPath(store.file)) : []);

/** Per account: what a running SQLite gateway holds, and its charges not yet in the rows. */
export interface BesideServe {
  held: Map<string, number>;
  unwritten: Map<string, number>;
}

/**
 * What a running SQLite gateway has that the rows do not show yet, for processes that read SQLite
 * beside it (the CLI), per account of `accountIds`. Run inside one transaction, with `records` its
 * journal read before that transaction's first read (or inside a write transaction, where no batch
 * can land): the ledger and the hold rows are then of one moment, so a batch the gateway writes
 * meanwhile is counted once, before or after. Unwritten: the
 * journaled charges whose request id the ledger lacks. Held: the hold rows, except those of
 * requests whose settlement or release is journaled: such a row is deleted only with its batch.
 */
export function* besideServe(q: Q, records: SettleRecord[], accountIds: string[]): Work<BesideServe> {
  const wanted = new Set(accountIds);
  const mine = records.filter((r) => wanted.has(r.accountId));
  const charged = mine.filter((r) => r.t === "settle" && r.charge > 0);
  const written = yield* chargedIds(q, charged.map((r) => r.requestId));
  const unwritten = new Map<string, number>();
  for (const r of charged) if (!written.has(r.requestId)) increment(unwritten, r.accountId, r.charge);
  // A row made after the journaled settlement is a later hold of the same request id: still held.
  const endedAt = new Map(mine.filter((r) => r.persisted).map((r) => [r.requestId, r.at]));
  const held = new Map<string, number>();
  const h = q.t.creditHolds;
  for (const part of chunks(accountIds)) {
    const holds = yield* all(q.db.select().from(h).where(inArray(h.accountId, part)));
    for (const row of holds) {
      const ended = endedAt.get(row.requestId);
      if (ended === undefined || row.createdAt > ended) increment(held, row.accountId, row.amountMicros);
    }
  }
  return { held, unwritten };
}

/** Which of the request ids the ledger has a charge for. */
function* chargedIds(q: Q, requestIds: string[]): Work<Set<string>> {
  const l = q.t.ledgerEntries;
  const found = new Set<string>();
  for (const part of chunks(requestIds)) {
    const rows = yield* all(q.db.select({ id: l.requestId }).from(l).where(inArray(l.requestId, part)));
    for (const r of rows) found.add(r.id!);
  }
  return found;
}

export interface LedgerMismatch {
  accountId: string;
  balance: number;
  ledgerSum: number;
}

/** Integrity check: every balance equals the sum of its ledger entries. Returns the mismatches. */
export function* ledgerMismatches(q: Q): Work<LedgerMismatch[]> {
  const a = q.t.accounts;
  const l = q.t.ledgerEntries;
  const sum = sql`coalesce(sum(${l.amountMicros}), 0)`;
  return yield* all(
    q.db.select({ accountId: a.id, balance: a.balanceMicros, ledgerSum: sql<number>`${sum}`.mapWith(Number) })
      .from(a)
      .leftJoin(l, eq(l.accountId, a.id))
      .groupBy(a.id)
      .having(sql`${a.balanceMicros} <> ${sum}`)
      .orderBy(a.id),
  );
}

export const checkLedger = (store: Store): Promise<LedgerMismatch[]> => store.read(ledgerMismatches);

/** checkLedger for a SQLite backup's copy, checked synchronously while it is made. */
export const checkLedgerSync = (store: SqliteStore): LedgerMismatch[] => store.readSync(ledgerMismatches);

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
