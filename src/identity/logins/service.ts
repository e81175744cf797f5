import { and, eq, gt, isNull, ne, or } from "drizzle-orm";
import type { SqliteStore } from "../../store/sqlite-store";
import { accountMembers, accounts, invites } from "../../store/schema";
import { sha256Hex } from "../../lib/crypto";
import { ApiError, errors } from "../../lib/errors";
import { newId, randomBase62 } from "../../lib/ids";
import { getAccountRowSync, type AccountRow } from "../../modules/accounts/service";
import { audit } from "../../modules/audit/service";
import { applyCreditSync } from "../../money/ledger";
import { ensureOwner, getMemberRow, memberByEmail, memberStatus, ownerMember, type MemberRow, type Role } from "../members";
import { deleteMemberSessions } from "../sessions";
import type { InviteViewT } from "./model";

export type InviteRow = typeof invites.$inferSelect;

/** A member who can sign in, as sign-in needs it. */
export interface Login {
  accountId: string;
  memberId: string;
  email: string;
  passwordHash: string;
  role: Role;
  status: AccountRow["status"];
}

export const inviteUrl = (base: string, token: string) => `${base.replace(/\/+$/, "")}/portal/invite/${token}`;

/**
 * Ends the member's other open invites (expired as of `now`): an invite resets that person's
 * password and signs them out, so only their newest link may ever do that. The owner's include
 * the account's invites from before teams, which were all the owner's.
 */
function expireOtherInvites(store: SqliteStore, m: MemberRow, keepId: string | null, now: number): void {
  const whose = m.role === "owner" ? or(eq(invites.memberId, m.id), isNull(invites.memberId)) : eq(invites.memberId, m.id);
  store.db.update(invites).set({ expiresAt: now })
    .where(and(eq(invites.accountId, m.accountId), whose, isNull(invites.usedAt), gt(invites.expiresAt, now), keepId ? ne(invites.id, keepId) : undefined))
    .run();
}

/** Ends every open invite of a member (removal); call inside the caller's write transaction. */
export const expireInvites = (store: SqliteStore, m: MemberRow, now: number) => expireOtherInvites(store, m, null, now);

/**
 * A one-time link with which `member` sets (or resets) their password, the older links of that
 * person stop working; only its hash is kept. Call inside the caller's durable transaction.
 */
export function issueInvite(
  store: SqliteStore,
  p: { member: MemberRow; email: string | null; ttlMs: number; actor: string; baseUrl: string },
  now: number,
): InviteViewT {
  const token = randomBase62(40);
  const row: InviteRow = {
    id: newId("inv"), accountId: p.member.accountId, memberId: p.member.id, tokenHash: sha256Hex(token),
    email: p.email?.toLowerCase() ?? null, expiresAt: now + p.ttlMs, usedAt: null, createdBy: p.actor, createdAt: now,
  };
  expireOtherInvites(store, p.member, null, now);
  store.db.insert(invites).values(row).run();
  const { tokenHash: _t, ...logged } = row;
  const action = p.member.role === "owner" ? "account.invite" : "member.invite";
  audit(store, { actor: p.actor, action, targetType: "account", targetId: row.accountId, after: { ...logged, role: p.member.role } }, now);
  return {
    object: "invite" as const, id: row.id, account_id: row.accountId, member_id: p.member.id, role: p.member.role,
    email: row.email, url: inviteUrl(p.baseUrl, token), expires_at: Math.floor(row.expiresAt / 1000),
  };
}

/**
 * The owner's invite: a one-time link to set (or reset) the owner's dashboard password (older
 * links of the owner stop working). The owner is created, as invited, when the account has none.
 */
export function createInvite(
  store: SqliteStore,
  p: { accountId: string; email?: string | null; ttlMs: number; actor: string; baseUrl: string },
  now = Date.now(),
): InviteViewT {
  return store.durable(() => {
    const account = getAccountRowSync(store, p.accountId);
    const owner = ensureOwner(store, p.accountId, p.email ?? account.email, now);
    const email = p.email?.toLowerCase() ?? owner.email ?? account.email?.toLowerCase() ?? null;
    return issueInvite(store, { member: owner, email, ttlMs: p.ttlMs, actor: p.actor, baseUrl: p.baseUrl }, now);
  });
}

export type InviteState = { invite: InviteRow; account: AccountRow; member: MemberRow | null; state: "ok" | "used" | "expired" };

/** Looks an invite token up without consuming it (to render the form). */
export function findInvite(store: SqliteStore, token: string, now = Date.now()): InviteState | null {
  if (!/^[0-9A-Za-z]{20,64}$/.test(token)) return null;
  const invite = store.db.select().from(invites).where(eq(invites.tokenHash, sha256Hex(token))).get();
  if (!invite) return null;
  const account = getAccountRowSync(store, invite.accountId);
  const member = invite.memberId ? getMemberRow(store, invite.memberId) : ownerMember(store, invite.accountId);
  const gone = member?.removedAt != null;
  const state = invite.usedAt !== null ? "used" : invite.expiresAt <= now || gone ? "expired" : "ok";
  return { invite, account, member, state };
}

const emailTaken = () =>
  new ApiError(409, "This email is already used by another account.", "invalid_request_error", "email_taken", "email");
const emailTakenHere = () =>
  new ApiError(409, "This email is already used by another member of this account.", "invalid_request_error", "email_taken", "email");

/** Refuses an address that another member (of any account) signs in with: one sign-in per address. */
export function checkEmailFree(store: SqliteStore, email: string, self: { id: string | null; accountId: string }): void {
  const other = memberByEmail(store, email);
  if (other && other.id !== self.id) throw other.accountId === self.accountId ? emailTakenHere() : emailTaken();
}

/**
 * Consumes an invite and sets its member's sign-in email and password (hashed by the caller,
 * outside the transaction). Every other session and open invite of that member is ended: an
 * invite doubles as a password reset.
 */
export function acceptInvite(store: SqliteStore, token: string, p: { email: string; passwordHash: string }, now = Date.now()): { accountId: string; memberId: string } {
  return store.durable(() => {
    const found = findInvite(store, token, now);
    if (!found) throw errors.notFound("Invite");
    if (found.state !== "ok") {
      throw errors.badRequest(`This invite link has ${found.state === "used" ? "already been used" : "expired"}.`, null, `invite_${found.state}`);
    }
    const accountId = found.invite.accountId;
    const member = found.member ?? ensureOwner(store, accountId, p.email, now);
    checkEmailFree(store, p.email, member);
    // Accepting signs the member in: that is their latest sign-in.
    store.db.update(accountMembers).set({ email: p.email, passwordHash: p.passwordHash, lastLoginAt: now, updatedAt: now }).where(eq(accountMembers.id, member.id)).run();
    store.db.update(invites).set({ usedAt: now }).where(eq(invites.id, found.invite.id)).run();
    expireOtherInvites(store, member, found.invite.id, now);
    deleteMemberSessions(store, member);
    audit(store, {
      actor: `invite:${found.invite.id}`, action: "login.set_password", targetType: "account", targetId: accountId,
      after: { email: p.email, member_id: member.id, role: member.role },
    }, now);
    return { accountId, memberId: member.id };
  });
}

/** The member who signs in with `email`, if any. */
export function findLogin(store: SqliteStore, email: string): Login | null {
  const m = memberByEmail(store, email);
  if (!m) return null;
  const status = store.db.select({ status: accounts.status }).from(accounts).where(eq(accounts.id, m.accountId)).get()?.status ?? "suspended";
  return { accountId: m.accountId, memberId: m.id, email: m.email!, passwordHash: m.passwordHash!, role: m.role, status };
}

/** The account owner's sign-in, once the owner has set a password; null before. */
export function getLogin(store: SqliteStore, accountId: string): MemberRow | null {
  const owner = ownerMember(store, accountId);
  return owner && memberStatus(owner) === "active" ? owner : null;
}

export function touchLogin(store: SqliteStore, memberId: string, now = Date.now()): void {
  store.db.update(accountMembers).set({ lastLoginAt: now }).where(eq(accountMembers.id, memberId)).run();
}

/**
 * Open sign-up: account, owner and starter credits in one durable transaction. The account row
 * is inserted here rather than through createAccount, whose own durable() transaction cannot nest.
 */
export function signUp(
  store: SqliteStore,
  p: { name: string; email: string; passwordHash: string; starterMicros: number },
  now = Date.now(),
): AccountRow {
  return store.durable(() => {
    if (memberByEmail(store, p.email)) throw emailTaken();
    const row: AccountRow = {
      id: newId("acc"), name: p.name, email: p.email, plan: "default", status: "active",
      balanceMicros: 0, lifetimeTopupMicros: 0, createdAt: now,
    };
    store.db.insert(accounts).values(row).run();
    store.db.insert(accountMembers).values({
      id: newId("mem"), accountId: row.id, email: p.email, role: "owner", passwordHash: p.passwordHash, createdAt: now, updatedAt: now,
    }).run();
    audit(store, { actor: "signup", action: "account.create", targetType: "account", targetId: row.id, after: row }, now);
    if (p.starterMicros > 0) {
      // An adjustment, not a top-up: gifted credit must not count towards lifetime top-ups.
      applyCreditSync(store, {
        accountId: row.id, amountMicros: p.starterMicros, kind: "adjustment", ref: "signup", note: "Sign-up credit", actor: "signup", heldMicros: 0,
      }, now);
    }
    return getAccountRowSync(store, row.id);
  });
}
