import { and, desc, eq, gt, isNotNull, isNull, lt, lte, or, sql } from "drizzle-orm";
import { bytewise } from "../usage/query";
import { contains } from "../../store/contains";
import type { Store } from "../../store/store";
import type { redemptionCodes } from "../../store/schema";
import type { Tables } from "../../store/tables";
import { all, get, run, type Q, type Work } from "../../store/work";
import { sha256Hex } from "../../lib/crypto";
import { cursorOf, readCursor } from "../../lib/cursor";
import { ApiError, errors } from "../../lib/errors";
import { newId, randomBase62 } from "../../lib/ids";
import { microsToUsd } from "../../money/units";
import { recordAudit } from "../audit/service";
import { applyCredit, ledgerView } from "../../money/ledger";
import type { LedgerEntryViewT } from "../ledger/model";
import type { CreditNote, CreditWatch } from "../alerts/credits";
import type { CodeViewT, CreateCodesInput } from "./model";

export type CodeRow = typeof redemptionCodes.$inferSelect;
type CodeStatus = CodeViewT["status"];

// Crockford base32: no I, L, O, U, so codes survive being read aloud or retyped.
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function randomCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const chars = [...bytes].map((b) => ALPHABET[b & 31]).join("");
  return `TG-${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}-${chars.slice(12, 16)}`;
}

/** Canonical form for hashing: upper case, separators dropped, I/L→1 and O→0 as Crockford reads them. */
export function normalizeCode(input: string): string | null {
  let s = input.toUpperCase().replace(/[\s-]/g, "").replace(/[IL]/g, "1").replace(/O/g, "0");
  if (s.length === 16) s = `TG${s}`;
  if (!/^TG[0-9A-HJKMNP-TV-Z]{16}$/.test(s)) return null;
  return s;
}

const toMillis = (v: number | string | null | undefined) => (v == null ? null : typeof v === "number" ? v * 1000 : Date.parse(v));

export function createCodes(store: Store, input: CreateCodesInput, actor: string, now = Date.now()) {
  const expiresAt = toMillis(input.expires_at);
  if (expiresAt !== null && expiresAt <= now) return Promise.reject(errors.badRequest("expires_at must be in the future.", "expires_at"));
  const batch = `batch_${randomBase62(16)}`;
  const codes = Array.from({ length: input.count }, () => {
    const code = randomCode();
    return { id: newId("code"), code, hash: sha256Hex(normalizeCode(code)!), last4: code.slice(-4) };
  });
  const rows = codes.map((c) => ({
    id: c.id, batch, codeHash: c.hash, last4: c.last4, amountMicros: input.amount_micros, note: input.note ?? null,
    expiresAt, createdBy: actor, createdAt: now,
  }));
  const created = {
    object: "code_batch" as const,
    batch,
    count: input.count,
    amount_micros: input.amount_micros,
    amount_usd: microsToUsd(input.amount_micros),
    note: input.note ?? null,
    expires_at: expiresAt === null ? null : Math.floor(expiresAt / 1000),
    codes: codes.map((c) => ({ id: c.id, code: c.code })),
  };
  return store.tx(function* (q) {
    // A few hundred rows per statement: well within both databases' limits on bound parameters.
    for (let i = 0; i < rows.length; i += 200) yield* run(q.db.insert(q.t.redemptionCodes).values(rows.slice(i, i + 200)));
    yield* recordAudit(q, {
      actor, action: "codes.create", targetType: "code_batch", targetId: batch,
      after: { count: input.count, amount_micros: input.amount_micros, note: input.note ?? null, expires_at: expiresAt },
    }, now);
    return created;
  }, { durable: true });
}

const invalidCode = () => new ApiError(404, "This credit code is not valid. Check it and try again.", "invalid_request_error", "code_not_found", "code");
const alreadyRedeemed = () => errors.conflict("This credit code has already been redeemed.", "code_already_redeemed");

export interface Redemption {
  code: CodeRow;
  entry: LedgerEntryViewT;
  replayed: boolean;
}

/**
 * Redeems a code for an account in one durable transaction: the code is claimed with a
 * conditional update and the credit posted in the same commit, so a code is credited at most
 * once even when two processes race. Redeeming a code again from the same account is a no-op
 * that returns the original ledger entry. `watch` (the low-balance alert) sees the credit in its transaction.
 */
export function redeemCode(store: Store, accountId: string, input: string, actor: string, now = Date.now(), watch?: CreditWatch): Promise<Redemption> {
  const normalized = normalizeCode(input);
  if (!normalized) return Promise.reject(invalidCode());
  // The account's balance (and perhaps its plan, by a tier) changes: every instance re-reads it.
  const note = watch?.creditNote(accountId) ?? null;
  return store.tx((q) => redeemWork(q, accountId, sha256Hex(normalized), actor, now, note), { durable: true, notify: true });
}

function* redeemWork(q: Q, accountId: string, hash: string, actor: string, now: number, note: CreditNote | null): Work<Redemption> {
  const c = q.t.redemptionCodes;
  const code = yield* get(q.db.select().from(c).where(eq(c.codeHash, hash)));
  if (!code) throw invalidCode();
  if (code.redeemedAt !== null) {
    if (code.redeemedBy === accountId && code.ledgerId !== null) {
      const entry = yield* get(q.db.select().from(q.t.ledgerEntries).where(eq(q.t.ledgerEntries.id, code.ledgerId)));
      return { code, entry: ledgerView(entry!), replayed: true };
    }
    throw alreadyRedeemed();
  }
  if (code.expiresAt !== null && code.expiresAt <= now) throw errors.badRequest("This credit code has expired.", "code", "code_expired");
  const account = yield* get(q.db.select({ status: q.t.accounts.status }).from(q.t.accounts).where(eq(q.t.accounts.id, accountId)));
  if (!account) throw errors.notFound(`Account ${accountId}`);
  if (account.status !== "active") throw new ApiError(403, "This account is suspended. Contact the operator.", "permission_error", "account_suspended");
  const claimed = yield* run(q.db.update(c).set({ redeemedBy: accountId, redeemedAt: now }).where(and(eq(c.id, code.id), isNull(c.redeemedAt))));
  if (claimed.changes !== 1) throw alreadyRedeemed();
  const entry = yield* applyCredit(q, {
    accountId, amountMicros: code.amountMicros, kind: "redeem", ref: code.id, note: `Credit code TG-…${code.last4}`, actor, heldMicros: 0,
  }, now);
  yield* run(q.db.update(c).set({ ledgerId: entry.id }).where(eq(c.id, code.id)));
  if (note) yield* note(q, entry.id);
  return { code: { ...code, redeemedBy: accountId, redeemedAt: now, ledgerId: entry.id }, entry, replayed: false };
}

function statusWhere(c: Tables["redemptionCodes"], status: CodeStatus | undefined, now: number) {
  switch (status) {
    case "redeemed":
      return isNotNull(c.redeemedAt);
    case "expired":
      return and(isNull(c.redeemedAt), lte(c.expiresAt, now));
    case "available":
      return and(isNull(c.redeemedAt), or(isNull(c.expiresAt), gt(c.expiresAt, now)));
    default:
      return undefined;
  }
}

/** Codes newest first, ties (a batch shares its time) broken by id compared byte by byte (the same order on both databases). */
export async function listCodes(store: Store, f: { batch?: string; status?: CodeStatus; limit: number; offset?: number; before?: string }, now = Date.now()): Promise<CodeRow[]> {
  // The payments' reader: an unreadable cursor is their 400, never the first page again.
  const before = readCursor(f.before);
  return store.read((q) => {
    const c = q.t.redemptionCodes;
    const id = bytewise(q, c.id);
    // Codes take no bare time: a cursor read has its id.
    const cursor = before && or(lt(c.createdAt, before.at), and(eq(c.createdAt, before.at), lt(id, before.id!)));
    return all(q.db.select().from(c)
      .where(and(f.batch ? eq(c.batch, f.batch) : undefined, statusWhere(c, f.status, now), cursor))
      .orderBy(desc(c.createdAt), desc(id))
      .limit(f.limit)
      .offset(f.offset ?? 0));
  });
}

/** The cursor of the page after `r` ("<created_at in ms>:<id>"). */
export const codeCursor = (r: CodeRow): string => cursorOf(r);

/** A page of batches: `before` the cursor of the previous page's last, `q` text its id or note contains. */
export interface BatchQuery {
  limit?: number;
  before?: string;
  q?: string;
}

/**
 * One row per batch with how many of its codes are redeemed, newest first, ties broken by batch id
 * byte by byte (the same order on both databases), so that a cursor neither skips nor repeats one.
 */
export function listBatches(store: Store, f: BatchQuery = {}) {
  const before = readCursor(f.before);
  return store.read((q) => {
    const c = q.t.redemptionCodes;
    const newest = sql`max(${c.createdAt})`;
    const batch = bytewise(q, c.batch);
    const cursor = before && sql`(${newest} < ${before.at} OR (${newest} = ${before.at} AND ${batch} < ${before.id!}))`;
    // Aggregates come back as text from PostgreSQL (bigint): mapped to numbers.
    return all(q.db
      .select({
        batch: c.batch,
        note: sql<string | null>`max(${c.note})`,
        amountMicros: sql<number>`max(${c.amountMicros})`.mapWith(Number),
        count: sql<number>`count(*)`.mapWith(Number),
        redeemed: sql<number>`count(${c.redeemedAt})`.mapWith(Number),
        expiresAt: sql<number | null>`max(${c.expiresAt})`.mapWith(Number),
        createdAt: sql<number>`max(${c.createdAt})`.mapWith(Number),
      })
      .from(c)
      .where(f.q ? or(contains(q, c.batch, f.q), contains(q, c.note, f.q)) : undefined)
      .groupBy(c.batch)
      .having(cursor)
      .orderBy(sql`${newest} desc`, desc(batch))
      .limit(f.limit ?? 50));
  });
}

/** The cursor of the page after batch `b` ("<created_at in ms>:<batch>"). */
export const batchCursor = (b: { createdAt: number; batch: string }): string => cursorOf({ createdAt: b.createdAt, id: b.batch });

export function codeStatus(c: CodeRow, now = Date.now()): CodeStatus {
  if (c.redeemedAt !== null) return "redeemed";
  if (c.expiresAt !== null && c.expiresAt <= now) return "expired";
  return "available";
}

const sec = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

export function codeView(c: CodeRow, now = Date.now()): CodeViewT {
  return {
    id: c.id,
    object: "redemption_code",
    batch: c.batch,
    display: `TG-…${c.last4}`,
    amount_micros: c.amountMicros,
    amount_usd: microsToUsd(c.amountMicros),
    note: c.note,
    status: codeStatus(c, now),
    expires_at: sec(c.expiresAt),
    redeemed_by: c.redeemedBy,
    redeemed_at: sec(c.redeemedAt),
    created_at: sec(c.createdAt)!,
  };
}
