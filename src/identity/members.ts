import { and, asc, eq, isNull } from "drizzle-orm";
import type { accountMembers } from "../store/schema";
import type { Store } from "../store/store";
import { all, get, run, type Q, type Work } from "../store/work";
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

/** The member, or 404. */
export function* memberRow(q: Q, id: string): Work<MemberRow> {
  const row = yield* get(q.db.select().from(q.t.accountMembers).where(eq(q.t.accountMembers.id, id)));
  if (!row) throw errors.notFound(`Member ${id}`, "id");
  return row;
}

export const getMemberRow = (store: Store, id: string): Promise<MemberRow> => store.read((q) => memberRow(q, id));

/** The account's owner (not removed), or null when nobody was ever invited as the owner. */
export function* ownerRow(q: Q, accountId: string): Work<MemberRow | null> {
  const m = q.t.accountMembers;
  const row = yield* get(q.db.select().from(m).where(and(eq(m.accountId, accountId), eq(m.role, "owner"), isNull(m.removedAt))));
  return row ?? null;
}

export const ownerMember = (store: Store, accountId: string): Promise<MemberRow | null> => store.read((q) => ownerRow(q, accountId));

/** The account's members (the removed ones too when asked), the owner first, then by age. */
export function* memberRows(q: Q, accountId: string, o: { removed?: boolean } = {}): Work<MemberRow[]> {
  const m = q.t.accountMembers;
  const rows = yield* all(
    q.db.select().from(m)
      .where(and(eq(m.accountId, accountId), o.removed ? undefined : isNull(m.removedAt)))
      .orderBy(asc(m.createdAt), asc(m.id)),
  );
  return rows.sort((a, b) => (a.role === "owner" ? 0 : 1) - (b.role === "owner" ? 0 : 1));
}

export const listMemberRows = (store: Store, accountId: string, o: { removed?: boolean } = {}): Promise<MemberRow[]> =>
  store.read((q) => memberRows(q, accountId, o));

/**
 * The account's owner, created as invited (no password yet) when it has none; part of the
 * caller's unit of work. An account made by the operator has no member until its first invite.
 */
export function* ensureOwner(q: Q, accountId: string, email: string | null, now: number): Work<MemberRow> {
  const owner = yield* ownerRow(q, accountId);
  if (owner) return owner;
  const row: MemberRow = {
    id: newId("mem"), accountId, email: email?.toLowerCase() ?? null, role: "owner", passwordHash: null,
    budgetMicros: null, budgetPeriod: null, lastLoginAt: null, removedAt: null, createdAt: now, updatedAt: now,
  };
  yield* run(q.db.insert(q.t.accountMembers).values(row));
  return row;
}

/** The member who may sign in with `email` (not removed, password set). */
export function* memberByEmail(q: Q, email: string): Work<MemberRow | null> {
  const rows = yield* all(q.db.select().from(q.t.accountMembers).where(eq(q.t.accountMembers.email, email.trim().toLowerCase())));
  return rows.find((m) => memberStatus(m) === "active") ?? null;
}
