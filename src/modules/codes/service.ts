import { and, desc, eq, gt, isNotNull, isNull, lte, or, sql } from "drizzle-orm";
import type { SqliteStore } from "../../store/sqlite-store";
import { accounts, ledgerEntries, redemptionCodes } from "../../store/schema";
import { sha256Hex } from "../../lib/crypto";
import { ApiError, errors } from "../../lib/errors";
import { newId, randomBase62 } from "../../lib/ids";
import { microsToUsd } from "../../money/units";
import { audit } from "../audit/service";
import { applyCredit, ledgerView } from "../../money/ledger";
import type { LedgerEntryViewT } from "../ledger/model";
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

export function createCodes(store: SqliteStore, input: CreateCodesInput, actor: string, now = Date.now()) {
  const expiresAt = toMillis(input.expires_at);
  if (expiresAt !== null && expiresAt <= now) throw errors.badRequest("expires_at must be in the future.", "expires_at");
  const batch = `batch_${randomBase62(16)}`;
  const codes = Array.from({ length: input.count }, () => {
    const code = randomCode();
    return { id: newId("code"), code, hash: sha256Hex(normalizeCode(code)!), last4: code.slice(-4) };
  });
  store.durable(() => {
    for (const c of codes) {
      store.db.insert(redemptionCodes)
        .values({
          id: c.id, batch, codeHash: c.hash, last4: c.last4, amountMicros: input.amount_micros, note: input.note ?? null,
          expiresAt, createdBy: actor, createdAt: now,
        })
        .run();
    }
    audit(store, {
      actor, action: "codes.create", targetType: "code_batch", targetId: batch,
      after: { count: input.count, amount_micros: input.amount_micros, note: input.note ?? null, expires_at: expiresAt },
    }, now);
  });
  return {
    object: "code_batch" as const,
    batch,
    count: input.count,
    amount_micros: input.amount_micros,
    amount_usd: microsToUsd(input.amount_micros),
    note: input.note ?? null,
    expires_at: expiresAt === null ? null : Math.floor(expiresAt / 1000),
    codes: codes.map((c) => ({ id: c.id, code: c.code })),
  };
}

const invalidCode = () => new ApiError(404, "This credit code is not valid. Check it and try again.", "invalid_request_error", "code_not_found", "code");

/**
 * Redeems a code for an account in one durable transaction: the code is claimed with a
 * conditional update and the credit posted in the same commit, so a code is credited at most
 * once even when two processes race. Redeeming a code again from the same account is a no-op
 * that returns the original ledger entry.
 */
export function redeemCode(store: SqliteStore, accountId: string, input: string, actor: string, now = Date.now()) {
  const normalized = normalizeCode(input);
  if (!normalized) throw invalidCode();
  const hash = sha256Hex(normalized);
  return store.durable((): { code: CodeRow; entry: LedgerEntryViewT; replayed: boolean } => {
    const code = store.db.select().from(redemptionCodes).where(eq(redemptionCodes.codeHash, hash)).get();
    if (!code) throw invalidCode();
    if (code.redeemedAt !== null) {
      if (code.redeemedBy === accountId && code.ledgerId !== null) {
        const entry = ledgerView(store.db.select().from(ledgerEntries).where(eq(ledgerEntries.id, code.ledgerId)).get()!);
        return { code, entry, replayed: true };
      }
      throw errors.conflict("This credit code has already been redeemed.", "code_already_redeemed");
    }
    if (code.expiresAt !== null && code.expiresAt <= now) {
      throw errors.badRequest("This credit code has expired.", "code", "code_expired");
    }
    const account = store.db.select({ status: accounts.status }).from(accounts).where(eq(accounts.id, accountId)).get();
    if (!account) throw errors.notFound(`Account ${accountId}`);
    if (account.status !== "active") {
      throw new ApiError(403, "This account is suspended. Contact the operator.", "permission_error", "account_suspended");
    }
    const claimed = store.db
      .update(redemptionCodes)
      .set({ redeemedBy: accountId, redeemedAt: now })
      .where(and(eq(redemptionCodes.id, code.id), isNull(redemptionCodes.redeemedAt)))
      .returning({ id: redemptionCodes.id })
      .all().length;
    if (claimed !== 1) throw errors.conflict("This credit code has already been redeemed.", "code_already_redeemed");
    const entry = applyCredit(store, {
      accountId, amountMicros: code.amountMicros, kind: "redeem", ref: code.id, note: `Credit code TG-…${code.last4}`, actor, heldMicros: 0,
    }, now);
    store.db.update(redemptionCodes).set({ ledgerId: entry.id }).where(eq(redemptionCodes.id, code.id)).run();
    return { code: { ...code, redeemedBy: accountId, redeemedAt: now, ledgerId: entry.id }, entry, replayed: false };
  });
}

function statusWhere(status: CodeStatus | undefined, now: number) {
  const c = redemptionCodes;
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

export function listCodes(store: SqliteStore, q: { batch?: string; status?: CodeStatus; limit: number; offset: number }, now = Date.now()) {
  return store.db
    .select()
    .from(redemptionCodes)
    .where(and(q.batch ? eq(redemptionCodes.batch, q.batch) : undefined, statusWhere(q.status, now)))
    .orderBy(desc(redemptionCodes.createdAt), desc(redemptionCodes.id))
    .limit(q.limit)
    .offset(q.offset)
    .all();
}

/** One row per batch with how many of its codes are redeemed, newest first. */
export function listBatches(store: SqliteStore, limit = 50) {
  const c = redemptionCodes;
  return store.db
    .select({
      batch: c.batch,
      note: sql<string | null>`max(${c.note})`,
      amountMicros: sql<number>`max(${c.amountMicros})`,
      count: sql<number>`count(*)`,
      redeemed: sql<number>`count(${c.redeemedAt})`,
      expiresAt: sql<number | null>`max(${c.expiresAt})`,
      createdAt: sql<number>`max(${c.createdAt})`,
    })
    .from(c)
    .groupBy(c.batch)
    .orderBy(sql`max(${c.createdAt}) desc`)
    .limit(limit)
    .all();
}

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
