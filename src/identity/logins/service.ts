import { and, eq, gt, isNull, ne } from "drizzle-orm";
import type { Store } from "../../store/store";
import { accountLogins, accounts, invites } from "../../store/schema";
import { sha256Hex } from "../../lib/crypto";
import { ApiError, errors } from "../../lib/errors";
import { newId, randomBase62 } from "../../lib/ids";
import { getAccountRow, type AccountRow } from "../../modules/accounts/service";
import { audit } from "../../modules/audit/service";
import { applyCredit } from "../../money/ledger";
import { deleteAccountSessions } from "../sessions";
import type { InviteViewT } from "./model";

export type InviteRow = typeof invites.$inferSelect;
export type LoginRow = typeof accountLogins.$inferSelect;

export const inviteUrl = (base: string, token: string) => `${base.replace(/\/+$/, "")}/portal/invite/${token}`;

/**
 * Ends the account's other open invites (expired as of `now`): an invite resets the password and
 * signs the owner out, so only the newest link may ever do that.
 */
function expireOtherInvites(store: Store, accountId: string, keepId: string | null, now: number): void {
  store.db.update(invites).set({ expiresAt: now })
    .where(and(eq(invites.accountId, accountId), isNull(invites.usedAt), gt(invites.expiresAt, now), keepId ? ne(invites.id, keepId) : undefined))
    .run();
}

/** Creates a one-time link to set (or reset) the account's dashboard password (older links stop working); only its hash is kept. */
export function createInvite(
  store: Store,
  p: { accountId: string; email?: string | null; ttlMs: number; actor: string; baseUrl: string },
  now = Date.now(),
): InviteViewT {
  const token = randomBase62(40);
  return store.durable(() => {
    const account = getAccountRow(store, p.accountId);
    const login = store.db.select().from(accountLogins).where(eq(accountLogins.accountId, p.accountId)).get();
    const row: InviteRow = {
      id: newId("inv"),
      accountId: p.accountId,
      tokenHash: sha256Hex(token),
      email: p.email?.toLowerCase() ?? login?.email ?? account.email?.toLowerCase() ?? null,
      expiresAt: now + p.ttlMs,
      usedAt: null,
      createdBy: p.actor,
      createdAt: now,
    };
    expireOtherInvites(store, p.accountId, null, now);
    store.db.insert(invites).values(row).run();
    const { tokenHash: _t, ...logged } = row;
    audit(store, { actor: p.actor, action: "account.invite", targetType: "account", targetId: p.accountId, after: logged }, now);
    return {
      object: "invite" as const,
      id: row.id,
      account_id: row.accountId,
      email: row.email,
      url: inviteUrl(p.baseUrl, token),
      expires_at: Math.floor(row.expiresAt / 1000),
    };
  });
}

export type InviteState = { invite: InviteRow; account: AccountRow; state: "ok" | "used" | "expired" };

/** Looks an invite token up without consuming it (to render the form). */
export function findInvite(store: Store, token: string, now = Date.now()): InviteState | null {
  if (!/^[0-9A-Za-z]{20,64}$/.test(token)) return null;
  const invite = store.db.select().from(invites).where(eq(invites.tokenHash, sha256Hex(token))).get();
  if (!invite) return null;
  const account = getAccountRow(store, invite.accountId);
  const state = invite.usedAt !== null ? "used" : invite.expiresAt <= now ? "expired" : "ok";
  return { invite, account, state };
}

const emailTaken = () =>
  new ApiError(409, "This email is already used by another account.", "invalid_request_error", "email_taken", "email");

/**
 * Consumes an invite and sets the account's sign-in email and password (hashed by the caller,
 * outside the transaction). Every other session and open invite of the account is ended: an
 * invite doubles as a password reset.
 */
export function acceptInvite(store: Store, token: string, p: { email: string; passwordHash: string }, now = Date.now()): string {
  return store.durable(() => {
    const found = findInvite(store, token, now);
    if (!found) throw errors.notFound("Invite");
    if (found.state !== "ok") {
      throw errors.badRequest(`This invite link has ${found.state === "used" ? "already been used" : "expired"}.`, null, `invite_${found.state}`);
    }
    const accountId = found.invite.accountId;
    const other = store.db.select().from(accountLogins).where(eq(accountLogins.email, p.email)).get();
    if (other && other.accountId !== accountId) throw emailTaken();
    store.db.insert(accountLogins)
      .values({ accountId, email: p.email, passwordHash: p.passwordHash, createdAt: now, updatedAt: now })
      .onConflictDoUpdate({ target: accountLogins.accountId, set: { email: p.email, passwordHash: p.passwordHash, updatedAt: now } })
      .run();
    store.db.update(invites).set({ usedAt: now }).where(eq(invites.id, found.invite.id)).run();
    expireOtherInvites(store, accountId, found.invite.id, now);
    deleteAccountSessions(store, accountId);
    audit(store, {
      actor: `invite:${found.invite.id}`, action: "login.set_password", targetType: "account", targetId: accountId,
      after: { email: p.email },
    }, now);
    return accountId;
  });
}

export function findLogin(store: Store, email: string): (LoginRow & { status: AccountRow["status"] }) | null {
  const row = store.db
    .select({ login: accountLogins, status: accounts.status })
    .from(accountLogins)
    .innerJoin(accounts, eq(accounts.id, accountLogins.accountId))
    .where(eq(accountLogins.email, email.trim().toLowerCase()))
    .get();
  return row ? { ...row.login, status: row.status } : null;
}

export function getLogin(store: Store, accountId: string): LoginRow | null {
  return store.db.select().from(accountLogins).where(eq(accountLogins.accountId, accountId)).get() ?? null;
}

export function touchLogin(store: Store, accountId: string, now = Date.now()): void {
  store.db.update(accountLogins).set({ lastLoginAt: now }).where(eq(accountLogins.accountId, accountId)).run();
}

/**
 * Open sign-up: account, login and starter credits in one durable transaction. The account row
 * is inserted here rather than through createAccount, whose own durable() transaction cannot nest.
 */
export function signUp(
  store: Store,
  p: { name: string; email: string; passwordHash: string; starterMicros: number },
  now = Date.now(),
): AccountRow {
  return store.durable(() => {
    if (store.db.select().from(accountLogins).where(eq(accountLogins.email, p.email)).get()) throw emailTaken();
    const row: AccountRow = {
      id: newId("acc"), name: p.name, email: p.email, plan: "default", status: "active",
      balanceMicros: 0, lifetimeTopupMicros: 0, createdAt: now,
    };
    store.db.insert(accounts).values(row).run();
    store.db.insert(accountLogins).values({ accountId: row.id, email: p.email, passwordHash: p.passwordHash, createdAt: now, updatedAt: now }).run();
    audit(store, { actor: "signup", action: "account.create", targetType: "account", targetId: row.id, after: row }, now);
    if (p.starterMicros > 0) {
      // An adjustment, not a top-up: gifted credit must not count towards lifetime top-ups.
      applyCredit(store, {
        accountId: row.id, amountMicros: p.starterMicros, kind: "adjustment", ref: "signup", note: "Sign-up credit", actor: "signup", heldMicros: 0,
      }, now);
    }
    return getAccountRow(store, row.id);
  });
}
