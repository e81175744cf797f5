import { and, eq, gt, isNull, ne, or, sql } from "drizzle-orm";
import type { invites } from "../../store/schema";
import type { Store } from "../../store/store";
import { all, get, run, type Q, type Work } from "../../store/work";
import { sha256Hex } from "../../lib/crypto";
import { ApiError, errors } from "../../lib/errors";
import { newId, randomBase62 } from "../../lib/ids";
import { accountRow, type AccountRow } from "../../modules/accounts/service";
import { recordAudit } from "../../modules/audit/service";
import { applyCredit } from "../../money/ledger";
import { ensureOwner, memberByEmail, memberRow, memberStatus, ownerRow, type MemberRow, type Role } from "../members";
import { deleteMemberSessions } from "../sessions";
import type { InviteViewT } from "./model";
import { provesAddress, releaseAddress, unproven } from "./address-claims";

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
function* expireOtherInvites(q: Q, m: MemberRow, keepId: string | null, now: number): Work<void> {
  const i = q.t.invites;
  const whose = m.role === "owner" ? or(eq(i.memberId, m.id), isNull(i.memberId)) : eq(i.memberId, m.id);
  yield* run(
    q.db.update(i).set({ expiresAt: now })
      .where(and(eq(i.accountId, m.accountId), whose, isNull(i.usedAt), gt(i.expiresAt, now), keepId ? ne(i.id, keepId) : undefined)),
  );
}

/** Ends every open invite of a member (removal); part of the caller's unit of work. */
export const expireInvites = (q: Q, m: MemberRow, now: number) => expireOtherInvites(q, m, null, now);

/**
 * A one-time link with which `member` sets (or resets) their password, the older links of that
 * person stop working; only its hash is kept. Part of the caller's (durable) unit of work.
 * `mailedOnly`: the link goes to the address and is not shown, so accepting it proves the address.
 */
export function* issueInvite(
  q: Q,
  p: { member: MemberRow; email: string | null; ttlMs: number; actor: string; baseUrl: string; mailedOnly?: boolean },
  now: number,
): Work<InviteViewT> {
  const token = randomBase62(40);
  const row: InviteRow = {
    id: newId("inv"), accountId: p.member.accountId, memberId: p.member.id, tokenHash: sha256Hex(token),
    email: p.email?.toLowerCase() ?? null, expiresAt: now + p.ttlMs, usedAt: null, createdBy: p.actor, createdAt: now,
  };
  yield* expireOtherInvites(q, p.member, null, now);
  yield* run(q.db.insert(q.t.invites).values(row));
  const { tokenHash: _t, ...logged } = row;
  const action = p.member.role === "owner" ? "account.invite" : "member.invite";
  const after = { ...logged, role: p.member.role, mailed_only: p.mailedOnly === true };
  yield* recordAudit(q, { actor: p.actor, action, targetType: "account", targetId: row.accountId, after }, now);
  return {
    object: "invite" as const, id: row.id, account_id: row.accountId, member_id: p.member.id, role: p.member.role,
    email: row.email, url: inviteUrl(p.baseUrl, token), expires_at: Math.floor(row.expiresAt / 1000),
  };
}

/**
 * The owner's invite: a one-time link to set (or reset) the owner's dashboard password (older
 * links of the owner stop working). The owner is created, as invited, when the account has none.
 * An email another member (of any account) signs in with is 409 email_taken.
 */
export function createInvite(
  store: Store,
  p: { accountId: string; email?: string | null; ttlMs: number; actor: string; baseUrl: string },
  now = Date.now(),
): Promise<InviteViewT> {
  // A new owner becomes the member the account's operator-made keys spend for (the request path keeps that).
  return store.tx(
    function* (q) {
      const account = yield* accountRow(q, p.accountId);
      const owner = yield* ensureOwner(q, p.accountId, p.email ?? account.email, now);
      const email = p.email?.toLowerCase() ?? owner.email ?? account.email?.toLowerCase() ?? null;
      // Refused now, as a member's invite is: the link could only ever be refused when used.
      if (email) yield* checkEmailFree(q, email, owner, true);
      return yield* issueInvite(q, { member: owner, email, ttlMs: p.ttlMs, actor: p.actor, baseUrl: p.baseUrl }, now);
    },
    { durable: true, notify: true },
  );
}

export type InviteState = { invite: InviteRow; account: AccountRow; member: MemberRow | null; state: "ok" | "used" | "expired" };

/** Looks an invite token up without consuming it. */
export function* inviteByToken(q: Q, token: string, now: number): Work<InviteState | null> {
  if (!/^[0-9A-Za-z]{20,64}$/.test(token)) return null;
  const invite = yield* get(q.db.select().from(q.t.invites).where(eq(q.t.invites.tokenHash, sha256Hex(token))));
  if (!invite) return null;
  const account = yield* accountRow(q, invite.accountId);
  const member = invite.memberId ? yield* memberRow(q, invite.memberId) : yield* ownerRow(q, invite.accountId);
  const gone = member?.removedAt != null;
  const state = invite.usedAt !== null ? "used" : invite.expiresAt <= now || gone ? "expired" : "ok";
  return { invite, account, member, state };
}

/** An invite as its form shows it (nothing consumed). */
export const findInvite = (store: Store, token: string, now = Date.now()): Promise<InviteState | null> =>
  store.read((q) => inviteByToken(q, token, now));

const emailTaken = () =>
  new ApiError(409, "This email is already used by another account.", "invalid_request_error", "email_taken", "email");
const emailTakenHere = () =>
  new ApiError(409, "This email is already used by another member of this account.", "invalid_request_error", "email_taken", "email");

/**
 * Refuses an address that another member (of any account) signs in with: one sign-in per address.
 * A `proven` claim (not through a link its inviter saw) is refused only by a proven holder: an
 * unproven one in another account is returned, to give the address up when the claim is used.
 */
export function* checkEmailFree(q: Q, email: string, self: { id: string | null; accountId: string }, proven = false): Work<MemberRow | null> {
  const other = yield* memberByEmail(q, email);
  if (!other || other.id === self.id) return null;
  if (other.accountId === self.accountId) throw emailTakenHere();
  if (proven && (yield* unproven(q, other))) return other;
  throw emailTaken();
}

const inviteRefused = (state: "used" | "expired") =>
  errors.badRequest(`This invite link has ${state === "used" ? "already been used" : "expired"}.`, null, `invite_${state}`);

/**
 * Consumes an invite and sets its member's sign-in email and password (hashed by the caller,
 * outside the transaction). Every other session and open invite of that member is ended: an
 * invite doubles as a password reset. Of two accepts of one link, one wins; the other is told
 * the link was used. The email is the invite's when it names one (the portal's form holds to it).
 */
export function acceptInvite(store: Store, token: string, p: { email: string; passwordHash: string }, now = Date.now()): Promise<{ accountId: string; memberId: string }> {
  return store.tx(
    function* (q) {
      const found = yield* inviteByToken(q, token, now);
      if (!found) throw errors.notFound("Invite");
      if (found.state !== "ok") throw inviteRefused(found.state);
      const i = q.t.invites;
      const used = yield* run(q.db.update(i).set({ usedAt: now }).where(and(eq(i.id, found.invite.id), isNull(i.usedAt))));
      if (used.changes === 0) throw inviteRefused("used");
      const accountId = found.invite.accountId;
      const member = found.member ?? (yield* ensureOwner(q, accountId, p.email, now));
      const holder = yield* checkEmailFree(q, p.email, member, yield* provesAddress(q, found.invite, p.email));
      if (holder) yield* releaseAddress(q, holder, `invite:${found.invite.id}`, now);
      // Accepting signs the member in: that is their latest sign-in.
      const m = q.t.accountMembers;
      yield* run(q.db.update(m).set({ email: p.email, passwordHash: p.passwordHash, lastLoginAt: now, updatedAt: now }).where(eq(m.id, member.id)));
      yield* expireOtherInvites(q, member, found.invite.id, now);
      yield* deleteMemberSessions(q, member);
      yield* recordAudit(q, {
        actor: `invite:${found.invite.id}`, action: "login.set_password", targetType: "account", targetId: accountId,
        after: { email: p.email, member_id: member.id, role: member.role },
      }, now);
      return { accountId, memberId: member.id };
    },
    { durable: true, notify: true },
  );
}

/** The member who signs in with `email`, if any. */
export function findLogin(store: Store, email: string): Promise<Login | null> {
  return store.read(function* (q) {
    const m = yield* memberByEmail(q, email);
    if (!m) return null;
    const a = q.t.accounts;
    const status = (yield* get(q.db.select({ status: a.status }).from(a).where(eq(a.id, m.accountId))))?.status ?? "suspended";
    return { accountId: m.accountId, memberId: m.id, email: m.email!, passwordHash: m.passwordHash!, role: m.role, status };
  });
}

/** The account owner's sign-in, once the owner has set a password; null before. */
export async function getLogin(store: Store, accountId: string): Promise<MemberRow | null> {
  const owner = await store.read((q) => ownerRow(q, accountId));
  return owner && memberStatus(owner) === "active" ? owner : null;
}

export async function touchLogin(store: Store, memberId: string, now = Date.now()): Promise<void> {
  await store.tx((q) => run(q.db.update(q.t.accountMembers).set({ lastLoginAt: now }).where(eq(q.t.accountMembers.id, memberId))));
}

/**
 * The sign-up credit: an adjustment, not a top-up (gifted credit must not count towards lifetime
 * top-ups, so no tier applies), on an account just created with nothing held. Written as the
 * ledger's credit posting writes it, until that posting is a unit of work to yield instead.
 */
function* starterCredit(q: Q, accountId: string, micros: number, now: number): Work<void> {
  // An adjustment, not a top-up: gifted credit must not count towards lifetime top-ups.
  yield* applyCredit(q, { accountId, amountMicros: micros, kind: "adjustment", ref: "signup", note: "Sign-up credit", actor: "signup", heldMicros: 0 }, now);
}

/**
 * Open sign-up: account, owner and starter credits in one unit of work. Of two sign-ups of one
 * email at once, the unique sign-in address lets one in; the other is refused as taken.
 */
export function* insertSignUp(q: Q, p: { name: string; email: string; passwordHash: string; starterMicros: number }, now: number): Work<{ account: AccountRow; ownerId: string }> {
  // The link was mailed to the address: a proven claim.
  const holder = yield* checkEmailFree(q, p.email, { id: null, accountId: "" }, true);
  if (holder) yield* releaseAddress(q, holder, "signup", now);
  const row: AccountRow = {
    id: newId("acc"), name: p.name, email: p.email, plan: "default", status: "active",
    balanceMicros: 0, lifetimeTopupMicros: 0, createdAt: now,
  };
  yield* run(q.db.insert(q.t.accounts).values(row));
  const ownerId = newId("mem");
  // Signing up signs the owner in: that is their first sign-in.
  const owner = yield* run(
    q.db.insert(q.t.accountMembers)
      .values({ id: ownerId, accountId: row.id, email: p.email, role: "owner", passwordHash: p.passwordHash, lastLoginAt: now, createdAt: now, updatedAt: now })
      .onConflictDoNothing(),
  );
  if (owner.changes === 0) throw emailTaken();
  yield* recordAudit(q, { actor: "signup", action: "account.create", targetType: "account", targetId: row.id, after: row }, now);
  if (p.starterMicros > 0) yield* starterCredit(q, row.id, p.starterMicros, now);
  return { account: yield* accountRow(q, row.id), ownerId };
}

export function signUp(store: Store, p: { name: string; email: string; passwordHash: string; starterMicros: number }, now = Date.now()): Promise<AccountRow> {
  return store.tx(function* (q) {
    return (yield* insertSignUp(q, p, now)).account;
  }, { durable: true });
}
