import { and, eq } from "drizzle-orm";
import type { SqliteStore } from "../../store/sqlite-store";
import { accountMembers, apiKeys } from "../../store/schema";
import { errors } from "../../lib/errors";
import { newId } from "../../lib/ids";
import { checkEmailFree, expireInvites, issueInvite } from "../../identity/logins/service";
import type { InviteViewT } from "../../identity/logins/model";
import { getMemberRow, listMemberRows, memberStatus, type MemberRow } from "../../identity/members";
import { deleteMemberSessions } from "../../identity/sessions";
import { getAccountRowSync } from "../accounts/service";
import { audit } from "../audit/service";
import type { BudgetT } from "../keys/model";
import type { GrantedRoleT } from "./model";

export interface InviteLink {
  ttlMs: number;
  actor: string;
  baseUrl: string;
}

/**
 * Invites someone into the account with a role: a member row waiting for its link (reused when
 * that address was invited before, so re-inviting ends the older link) and a one-time link.
 * Someone already in this account, or signing in to another, cannot be invited.
 */
export function inviteMember(
  store: SqliteStore,
  p: InviteLink & { accountId: string; email: string; role: GrantedRoleT },
  now = Date.now(),
): { member: MemberRow; invite: InviteViewT } {
  const email = p.email.trim().toLowerCase();
  return store.durable(() => {
    getAccountRowSync(store, p.accountId);
    const same = listMemberRows(store, p.accountId).find((m) => m.email === email);
    if (same && memberStatus(same) === "active") throw errors.conflict(`${email} is already a member of this account.`, "member_exists");
    if (same?.role === "owner") throw errors.conflict(`${email} is this account's owner: send the owner's invite instead.`, "member_exists");
    checkEmailFree(store, email, { id: same?.id ?? null, accountId: p.accountId });
    let member: MemberRow;
    if (same) {
      store.db.update(accountMembers).set({ role: p.role, updatedAt: now }).where(eq(accountMembers.id, same.id)).run();
      member = { ...same, role: p.role, updatedAt: now };
    } else {
      member = {
        id: newId("mem"), accountId: p.accountId, email, role: p.role, passwordHash: null, budgetMicros: null, budgetPeriod: null,
        lastLoginAt: null, removedAt: null, createdAt: now, updatedAt: now,
      };
      store.db.insert(accountMembers).values(member).run();
    }
    const invite = issueInvite(store, { member, email, ttlMs: p.ttlMs, actor: p.actor, baseUrl: p.baseUrl }, now);
    return { member, invite };
  });
}

/** A new link for a member (a password reset once they have signed up); their older links end. */
export function reinviteMember(store: SqliteStore, memberId: string, p: InviteLink, now = Date.now()): InviteViewT {
  return store.durable(() => {
    const m = liveMember(store, memberId);
    return issueInvite(store, { member: m, email: m.email, ttlMs: p.ttlMs, actor: p.actor, baseUrl: p.baseUrl }, now);
  });
}

/** Makes a member an admin or a member (the owner's role stays); applies from their next page. */
export function setMemberRole(store: SqliteStore, memberId: string, role: GrantedRoleT, actor: string, now = Date.now()): MemberRow {
  return store.durable(() => {
    const m = liveMember(store, memberId);
    if (m.role === "owner") throw errors.badRequest("The owner's role cannot be changed.", "role", "owner_role");
    if (m.role === role) return m;
    store.db.update(accountMembers).set({ role, updatedAt: now }).where(eq(accountMembers.id, m.id)).run();
    audit(store, { actor, action: "member.role", targetType: "member", targetId: m.id, before: { role: m.role }, after: { role } }, now);
    return getMemberRow(store, m.id);
  });
}

/** Sets (or with null removes) what the member's keys together may spend per period. */
export function setMemberBudget(store: SqliteStore, memberId: string, budget: BudgetT | null, actor: string, now = Date.now()): MemberRow {
  return store.durable(() => {
    const m = liveMember(store, memberId);
    const next = { budgetMicros: budget?.amount_micros ?? null, budgetPeriod: budget?.period ?? null };
    if (m.budgetMicros === next.budgetMicros && m.budgetPeriod === next.budgetPeriod) return m;
    store.db.update(accountMembers).set({ ...next, updatedAt: now }).where(eq(accountMembers.id, m.id)).run();
    audit(store, {
      actor, action: "member.budget", targetType: "member", targetId: m.id,
      before: { budget_micros: m.budgetMicros, budget_period: m.budgetPeriod }, after: { budget_micros: next.budgetMicros, budget_period: next.budgetPeriod },
    }, now);
    return getMemberRow(store, m.id);
  });
}

/**
 * Removes a member: signed out and their links ended now; their keys stop working after
 * `graceSeconds` (0 = revoked now; else through the keys' expiry, as rotation's grace does). The
 * owner cannot be removed. Removing twice changes nothing.
 */
export function removeMember(store: SqliteStore, memberId: string, graceSeconds: number, actor: string, now = Date.now()) {
  return store.durable(() => {
    const m = getMemberRow(store, memberId);
    const stopAt = now + graceSeconds * 1000;
    if (m.removedAt !== null) return { member: m, keys: [] as string[], stopAt: m.removedAt };
    if (m.role === "owner") throw errors.badRequest("The owner cannot be removed.", "id", "owner_role");
    store.db.update(accountMembers).set({ removedAt: now, updatedAt: now }).where(eq(accountMembers.id, m.id)).run();
    const keys = store.db.select().from(apiKeys).where(and(eq(apiKeys.accountId, m.accountId), eq(apiKeys.memberId, m.id))).all()
      .filter((k) => k.revokedAt === null && (k.expiresAt === null || k.expiresAt > now));
    for (const k of keys) {
      const patch = graceSeconds === 0 ? { revokedAt: now } : { expiresAt: k.expiresAt === null ? stopAt : Math.min(k.expiresAt, stopAt) };
      store.db.update(apiKeys).set(patch).where(eq(apiKeys.id, k.id)).run();
    }
    expireInvites(store, m, now);
    deleteMemberSessions(store, m);
    const ids = keys.map((k) => k.id);
    audit(store, {
      actor, action: "member.remove", targetType: "member", targetId: m.id, before: { email: m.email, role: m.role },
      after: { removed_at: now, grace_seconds: graceSeconds, keys: ids },
    }, now);
    return { member: getMemberRow(store, m.id), keys: ids, stopAt };
  });
}

/** A member that was not removed (404 for another id, 400 once removed). */
function liveMember(store: SqliteStore, id: string): MemberRow {
  const m = getMemberRow(store, id);
  if (m.removedAt !== null) throw errors.badRequest(`Member ${id} was removed.`, "id", "member_removed");
  return m;
}

/** Keys (ids) a member owns: theirs, and for the owner also those with no member (the operator's, the old ones). */
export function memberKeyIds(store: SqliteStore, accountId: string, m: { id: string | null; role: string }): string[] {
  const sql = m.role === "owner"
    ? "SELECT id FROM api_keys WHERE account_id = ? AND (member_id = ? OR member_id IS NULL)"
    : "SELECT id FROM api_keys WHERE account_id = ? AND member_id = ?";
  return store.sqlite.query<{ id: string }, [string, string]>(sql).all(accountId, m.id ?? "").map((r) => r.id);
}

/**
 * Per member: active keys and what their keys were charged since `from` (usage log), with keys
 * of no member counted as the owner's (`ownerId`).
 */
export function memberTotals(store: SqliteStore, accountId: string, ownerId: string | null, from: number, now: number) {
  const keys = new Map<string | null, number>();
  const spend = new Map<string | null, number>();
  const whose = (id: string | null) => id ?? ownerId;
  for (const k of store.sqlite.query<{ member_id: string | null; n: number }, [string, number]>(
    "SELECT member_id, count(*) AS n FROM api_keys WHERE account_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) GROUP BY member_id",
  ).all(accountId, now)) keys.set(whose(k.member_id), (keys.get(whose(k.member_id)) ?? 0) + k.n);
  for (const s of store.sqlite.query<{ member_id: string | null; micros: number }, [string, number]>(
    `SELECT k.member_id AS member_id, sum(u.cost_micros) AS micros FROM usage_log u JOIN api_keys k ON k.id = u.key_id
     WHERE u.account_id = ? AND u.created_at >= ? GROUP BY k.member_id`,
  ).all(accountId, from)) spend.set(whose(s.member_id), (spend.get(whose(s.member_id)) ?? 0) + s.micros);
  return { keys, spend };
}
