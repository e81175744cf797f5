import { and, asc, eq, isNull } from "drizzle-orm";
import type { SqliteStore } from "../store/sqlite-store";
import { accountMembers } from "../store/schema";
import { errors } from "../lib/errors";
import { newId } from "../lib/ids";

/** The people of an account's portal; see the account_members table. */
export type MemberRow = typeof accountMembers.$inferSelect;
export type Role = MemberRow["role"];
export const ROLES: readonly Role[] = ["owner", "admin", "member"];

/** Invited: the link is not used yet; removed: signed out for good (the row stays for history). */
export function memberStatus(m: Pick<MemberRow, "passwordHash" | "removedAt">): "active" | "invited" | "removed" {
  return m.removedAt !== null ? "removed" : m.passwordHash === null ? "invited" : "active";
}

export function getMemberRow(store: SqliteStore, id: string): MemberRow {
  const row = store.db.select().from(accountMembers).where(eq(accountMembers.id, id)).get();
  if (!row) throw errors.notFound(`Member ${id}`, "id");
  return row;
}

/** The account's owner (not removed), or null when nobody was ever invited as the owner. */
export function ownerMember(store: SqliteStore, accountId: string): MemberRow | null {
  return (
    store.db.select().from(accountMembers)
      .where(and(eq(accountMembers.accountId, accountId), eq(accountMembers.role, "owner"), isNull(accountMembers.removedAt)))
      .get() ?? null
  );
}

/** The account's members (the removed ones too when asked), the owner first, then by age. */
export function listMemberRows(store: SqliteStore, accountId: string, o: { removed?: boolean } = {}): MemberRow[] {
  const rows = store.db.select().from(accountMembers)
    .where(and(eq(accountMembers.accountId, accountId), o.removed ? undefined : isNull(accountMembers.removedAt)))
    .orderBy(asc(accountMembers.createdAt), asc(accountMembers.id))
    .all();
  return rows.sort((a, b) => (a.role === "owner" ? 0 : 1) - (b.role === "owner" ? 0 : 1));
}

/**
 * The account's owner, created as invited (no password yet) when it has none; call inside the
 * caller's write transaction. An account made by the operator has no member until its first invite.
 */
export function ensureOwner(store: SqliteStore, accountId: string, email: string | null, now: number): MemberRow {
  const owner = ownerMember(store, accountId);
  if (owner) return owner;
  const row: MemberRow = {
    id: newId("mem"), accountId, email: email?.toLowerCase() ?? null, role: "owner", passwordHash: null,
    budgetMicros: null, budgetPeriod: null, lastLoginAt: null, removedAt: null, createdAt: now, updatedAt: now,
  };
  store.db.insert(accountMembers).values(row).run();
  return row;
}

/** The member who may sign in with `email` (not removed, password set), with its account's status. */
export function memberByEmail(store: SqliteStore, email: string): MemberRow | null {
  const rows = store.db.select().from(accountMembers).where(eq(accountMembers.email, email.trim().toLowerCase())).all();
  return rows.find((m) => memberStatus(m) === "active") ?? null;
}
