import { and, count, eq, gt, gte, inArray, isNull, or, sql, type SQL, type SQLWrapper } from "drizzle-orm";
import type { Store } from "../../store/store";
import { all, run, type Q, type Work } from "../../store/work";
import { errors } from "../../lib/errors";
import { newId } from "../../lib/ids";
import { checkEmailFree, expireInvites, issueInvite } from "../../identity/logins/service";
import { seenBy } from "../../identity/logins/address-claims";
import type { InviteViewT } from "../../identity/logins/model";
import { getMemberRow, memberRow, memberRows, memberStatus, type MemberRow } from "../../identity/members";
import { deleteMemberSessions } from "../../identity/sessions";
import { keyOwner, memberOwner } from "../../money/budgets";
import { accountRow } from "../accounts/service";
import { recordAudit } from "../audit/service";
import type { BudgetT } from "../keys/model";
import { checkBudget } from "../keys/service";
import type { GrantedRoleT } from "./model";

export interface InviteLink {
  ttlMs: number;
  actor: string;
  baseUrl: string;
  /** The link is mailed to the address and shown to no one (the portal, with SMTP). */
  mailedOnly?: boolean;
}

// Members' rows are read by the request path (a key's budget member, the owner of keys without
// one): every change below commits with notify, so that every instance re-reads them.
const CHANGE = { durable: true, notify: true } as const;

/**
 * Invites someone into the account with a role: a member row waiting for its link (reused when
 * that address was invited before, so re-inviting ends the older link) and a one-time link.
 * Someone already in this account, or signing in to another, cannot be invited (unless the
 * other's address came through a link its inviter saw, and this link is not one).
 */
export function inviteMember(
  store: Store,
  p: InviteLink & { accountId: string; email: string; role: GrantedRoleT },
  now = Date.now(),
): Promise<{ member: MemberRow; invite: InviteViewT }> {
  const email = p.email.trim().toLowerCase();
  return store.tx(function* (q) {
    yield* accountRow(q, p.accountId);
    const same = (yield* memberRows(q, p.accountId)).find((m) => m.email === email);
    if (same && memberStatus(same) === "active") throw errors.conflict(`${email} is already a member of this account.`, "member_exists");
    if (same?.role === "owner") throw errors.conflict(`${email} is this account's owner: send the owner's invite instead.`, "member_exists");
    const proven = !seenBy(p.actor, p.mailedOnly === true);
    yield* checkEmailFree(q, email, { id: same?.id ?? null, accountId: p.accountId }, proven);
    let member: MemberRow;
    const m = q.t.accountMembers;
    if (same) {
      yield* run(q.db.update(m).set({ role: p.role, updatedAt: now }).where(eq(m.id, same.id)));
      member = { ...same, role: p.role, updatedAt: now };
    } else {
      member = {
        id: newId("mem"), accountId: p.accountId, email, role: p.role, passwordHash: null, budgetMicros: null, budgetPeriod: null,
        lastLoginAt: null, removedAt: null, createdAt: now, updatedAt: now,
      };
      yield* run(q.db.insert(m).values(member));
    }
    const invite = yield* issueInvite(q, { member, email, ttlMs: p.ttlMs, actor: p.actor, baseUrl: p.baseUrl, mailedOnly: p.mailedOnly }, now);
    return { member, invite };
  }, CHANGE);
}

/** A new link for a member (a password reset once they have signed up); their older links end. */
export function reinviteMember(store: Store, memberId: string, p: InviteLink, now = Date.now()): Promise<InviteViewT> {
  return store.tx(function* (q) {
    const m = yield* liveMember(q, memberId);
    return yield* issueInvite(q, { member: m, email: m.email, ttlMs: p.ttlMs, actor: p.actor, baseUrl: p.baseUrl, mailedOnly: p.mailedOnly }, now);
  }, { durable: true });
}

/** Makes a member an admin or a member (the owner's role stays); applies from their next page. */
export function setMemberRole(store: Store, memberId: string, role: GrantedRoleT, actor: string, now = Date.now()): Promise<MemberRow> {
  return store.tx(function* (q) {
    const m = yield* liveMember(q, memberId);
    if (m.role === "owner") throw errors.badRequest("The owner's role cannot be changed.", "role", "owner_role");
    if (m.role === role) return m;
    yield* run(q.db.update(q.t.accountMembers).set({ role, updatedAt: now }).where(eq(q.t.accountMembers.id, m.id)));
    yield* recordAudit(q, { actor, action: "member.role", targetType: "member", targetId: m.id, before: { role: m.role }, after: { role } }, now);
    return yield* memberRow(q, m.id);
  }, CHANGE);
}

/** Sets (or with null removes) what the member's keys together may spend per period. */
export function setMemberBudget(store: Store, memberId: string, budget: BudgetT | null, actor: string, now = Date.now()): Promise<MemberRow> {
  return store.tx(function* (q) {
    checkBudget(budget);
    const m = yield* liveMember(q, memberId);
    const next = { budgetMicros: budget?.amount_micros ?? null, budgetPeriod: budget?.period ?? null };
    if (m.budgetMicros === next.budgetMicros && m.budgetPeriod === next.budgetPeriod) return m;
    yield* run(q.db.update(q.t.accountMembers).set({ ...next, updatedAt: now }).where(eq(q.t.accountMembers.id, m.id)));
    yield* recordAudit(q, {
      actor, action: "member.budget", targetType: "member", targetId: m.id,
      before: { budget_micros: m.budgetMicros, budget_period: m.budgetPeriod }, after: { budget_micros: next.budgetMicros, budget_period: next.budgetPeriod },
    }, now);
    return yield* memberRow(q, m.id);
  }, CHANGE);
}

/**
 * Removes a member: signed out and their links ended now; their keys stop working after
 * `graceSeconds` (0 = revoked now; else through the keys' expiry, as rotation's grace does). The
 * owner cannot be removed. Removing again cuts the keys still working to the new grace (a leaked
 * key of a member in their grace is stopped so), never extends it.
 */
export function removeMember(store: Store, memberId: string, graceSeconds: number, actor: string, now = Date.now()) {
  return store.tx((q) => removal(q, memberId, graceSeconds, actor, now), CHANGE);
}

/** What a removal did: the member's keys that worked until now, and when the last of them stops. */
export interface Removal {
  member: MemberRow;
  keys: string[];
  stopAt: number;
}

function* removal(q: Q, memberId: string, graceSeconds: number, actor: string, now: number): Work<Removal> {
  const m = yield* memberRow(q, memberId);
  if (m.role === "owner") throw errors.badRequest("The owner cannot be removed.", "id", "owner_role");
  const first = m.removedAt === null;
  if (first) yield* run(q.db.update(q.t.accountMembers).set({ removedAt: now, updatedAt: now }).where(eq(q.t.accountMembers.id, m.id)));
  const stop = yield* stopKeys(q, m, graceSeconds, now);
  if (first) {
    yield* expireInvites(q, m, now);
    yield* deleteMemberSessions(q, m);
  }
  // A repeated removal that stopped nothing sooner changed nothing: no audit entry for it.
  if (first || stop.cut) {
    yield* recordAudit(q, {
      actor, action: "member.remove", targetType: "member", targetId: m.id, before: { email: m.email, role: m.role },
      after: { removed_at: m.removedAt ?? now, grace_seconds: graceSeconds, keys: stop.keys, ...(first ? {} : { again: true }) },
    }, now);
  }
  return { member: yield* memberRow(q, m.id), keys: stop.keys, stopAt: stop.at };
}

/**
 * Stops the member's keys that still work by `now + graceSeconds` (0: revoked now), never later
 * than they would have: the keys, whether any stops sooner than before, and when the last stops.
 */
function* stopKeys(q: Q, m: MemberRow, graceSeconds: number, now: number): Work<{ keys: string[]; cut: boolean; at: number }> {
  const k = q.t.apiKeys;
  const keys = (yield* all(q.db.select().from(k).where(and(eq(k.accountId, m.accountId), eq(k.memberId, m.id))).orderBy(k.createdAt, k.id)))
    .filter((key) => key.revokedAt === null && (key.expiresAt === null || key.expiresAt > now));
  const cutAt = now + graceSeconds * 1000;
  let cut = false;
  let at = now;
  for (const key of keys) {
    const stop = graceSeconds === 0 ? now : Math.min(key.expiresAt ?? cutAt, cutAt);
    at = Math.max(at, stop);
    if (stop === key.expiresAt) continue;
    cut = true;
    yield* run(q.db.update(k).set(graceSeconds === 0 ? { revokedAt: now } : { expiresAt: stop }).where(eq(k.id, key.id)));
  }
  return { keys: keys.map((key) => key.id), cut, at };
}

/** A member that was not removed (404 for another id, 400 once removed). */
function* liveMember(q: Q, id: string): Work<MemberRow> {
  const m = yield* memberRow(q, id);
  if (m.removedAt !== null) throw errors.badRequest(`Member ${id} was removed.`, "id", "member_removed");
  return m;
}

/** Keys (ids) a member owns: theirs, and for the owner also those with no member (the operator's, the old ones). */
export function* memberKeys(q: Q, accountId: string, m: { id: string | null; role: string }): Work<string[]> {
  const k = q.t.apiKeys;
  const whose = m.role === "owner" ? or(eq(k.memberId, m.id ?? ""), isNull(k.memberId)) : eq(k.memberId, m.id ?? "");
  return (yield* all(q.db.select({ id: k.id }).from(k).where(and(eq(k.accountId, accountId), whose)).orderBy(k.createdAt, k.id))).map((r) => r.id);
}

export const memberKeyIds = (store: Store, accountId: string, m: { id: string | null; role: string }): Promise<string[]> =>
  store.read((q) => memberKeys(q, accountId, m));

/** Per member (keys of no member counted as the owner's): keys that work now, when the last of them expires, what their keys were charged. */
export interface MemberTotals {
  keys: Map<string | null, number>;
  /** When the last working key expires (a removed member's: the end of their grace); Infinity when one never does. */
  until: Map<string | null, number>;
  spend: Map<string | null, number>;
}

/**
 * Per member: active keys (and when the last of them expires) and what their keys were charged
 * since `from` (memberSpend), with keys of no member counted as the owner's (`ownerId`).
 */
export function* memberTotals(q: Q, accountId: string, ownerId: string | null, from: number, now: number): Work<MemberTotals> {
  const t: MemberTotals = { keys: new Map(), until: new Map(), spend: new Map() };
  const whose = (id: string | null) => id ?? ownerId;
  const k = q.t.apiKeys;
  // max() of a bigint column may come back from PostgreSQL as a string, as a sum does.
  const live = yield* all(
    q.db.select({ memberId: k.memberId, n: count(), expiring: count(k.expiresAt), until: sql<string | number | null>`max(${k.expiresAt})` }).from(k)
      .where(and(eq(k.accountId, accountId), isNull(k.revokedAt), or(isNull(k.expiresAt), gt(k.expiresAt, now))))
      .groupBy(k.memberId),
  );
  for (const r of live) {
    const who = whose(r.memberId);
    t.keys.set(who, (t.keys.get(who) ?? 0) + Number(r.n));
    const until = Number(r.expiring) < Number(r.n) ? Number.POSITIVE_INFINITY : Number(r.until);
    t.until.set(who, Math.max(t.until.get(who) ?? 0, until));
  }
  t.spend = yield* memberSpend(q, accountId, from);
  if (ownerId) t.spend.set(ownerId, (t.spend.get(ownerId) ?? 0) + (yield* spentByNoMember(q, accountId, from)));
  return t;
}

/**
 * What the account's keys were charged since `from` that went to no member's budget days (before
 * its first member, or by keys of no member before it had an owner): those are the owner's. Every
 * charge adds to its key line's days too, so it is the keys' days less the members', both kept as
 * long as a month reaches back: exact whatever usage_retention_days rolled up.
 */
function* spentByNoMember(q: Q, accountId: string, from: number): Work<number> {
  const s = q.t.budgetSpend;
  const k = q.t.apiKeys;
  const m = q.t.accountMembers;
  // The owner names as keyOwner and memberOwner spell them, built in SQL: an account may have many keys.
  const named = (owner: (id: string) => string, id: SQLWrapper) => sql<string>`${sql.raw(`'${owner("")}'`)} || ${id}`;
  const keys = q.db.select({ owner: named(keyOwner, k.id) }).from(k).where(eq(k.accountId, accountId));
  const members = q.db.select({ owner: named(memberOwner, m.id) }).from(m).where(eq(m.accountId, accountId));
  const sumOf = function* (owners: SQL | undefined) {
    const [r] = yield* all(q.db.select({ micros: sql<string | number | null>`sum(${s.spentMicros})` }).from(s).where(and(owners, gte(s.day, from))));
    return Number(r?.micros ?? 0);
  };
  return (yield* sumOf(inArray(s.owner, keys))) - (yield* sumOf(inArray(s.owner, members)));
}

/**
 * What each member's keys were charged since `from` (a day start in budget_timezone, no more than
 * 40 days back): the budget_spend days, which every charge adds to under its key's member (the
 * owner for keys of no member) whether or not that member has a budget. Not the usage log: its
 * rows older than usage_retention_days are rolled up into daily totals that name no member (and,
 * for those made before the key was kept, no key).
 */
function* memberSpend(q: Q, accountId: string, from: number): Work<Map<string | null, number>> {
  const m = q.t.accountMembers;
  const s = q.t.budgetSpend;
  const ids = (yield* all(q.db.select({ id: m.id }).from(m).where(eq(m.accountId, accountId)))).map((r) => r.id);
  const spend = new Map<string | null, number>();
  if (ids.length === 0) return spend;
  const days = yield* all(q.db.select({ owner: s.owner, micros: s.spentMicros }).from(s)
    .where(and(inArray(s.owner, ids.map(memberOwner)), gte(s.day, from))));
  const byOwner = new Map(ids.map((id) => [memberOwner(id), id]));
  for (const d of days) {
    const id = byOwner.get(d.owner)!;
    spend.set(id, (spend.get(id) ?? 0) + Number(d.micros));
  }
  return spend;
}

/**
 * The role of the member a key belongs to (the principal's memberId: its maker, else the owner);
 * a key of an account that never had members is the owner's too. Read fresh, so that a role
 * change applies from the key's next request.
 */
export async function keyRole(store: Store, p: { memberId?: string | null }): Promise<MemberRow["role"]> {
  if (!p.memberId) return "owner";
  return (await getMemberRow(store, p.memberId)).role;
}
