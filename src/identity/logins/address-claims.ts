import { and, eq, gt, inArray, isNotNull, isNull } from "drizzle-orm";
import type { invites } from "../../store/schema";
import { all, run, type Q, type Work } from "../../store/work";
import { recordAudit } from "../../modules/audit/service";
import type { MemberRow } from "../members";
import { deleteMemberSessions } from "../sessions";

/*
 * Whose claim on a sign-in address is proven. An invite made in the portal and shown to the owner
 * who made it proves nothing about the address: that owner could accept it as anyone's. Such an
 * address gives way to a proven claim (the operator's invite, a mailed link, a confirmed sign-up)
 * instead of locking its real owner out of every other account.
 */

type InviteRow = typeof invites.$inferSelect;

/**
 * Whether a link made by `createdBy` was shown in the portal rather than mailed. A member's link
 * to themselves counts too: shown, it proves nothing about the address (their earlier proof, if
 * any, stands: see unproven), or an unproven address would become proven by asking for a link.
 */
export function seenBy(createdBy: string, mailedOnly: boolean): boolean {
  return !mailedOnly && createdBy.startsWith("portal:");
}

/** Whether the invite's link was seen by its inviter: its audit entry says when it was mailed only. */
export function* seenByInviter(q: Q, invite: InviteRow): Work<boolean> {
  if (!seenBy(invite.createdBy, false)) return false;
  const l = q.t.auditLog;
  const made = yield* all(q.db.select({ after: l.after }).from(l).where(and(
    eq(l.targetType, "account"), eq(l.targetId, invite.accountId), inArray(l.action, ["member.invite", "account.invite"]),
  )));
  const entry = made.map((e) => e.after as { id?: string; mailed_only?: boolean } | null).find((a) => a?.id === invite.id);
  return entry?.mailed_only !== true;
}

/**
 * Whether accepting `invite` as `email` proves the address: the invite named it, and its link was
 * not seen by its inviter. A link that let its holder choose the address proves nothing.
 */
export function* provesAddress(q: Q, invite: InviteRow, email: string): Work<boolean> {
  if (invite.email === null || invite.email.toLowerCase() !== email.toLowerCase()) return false;
  return !(yield* seenByInviter(q, invite));
}

/**
 * Whether the member's address is unproven: they came in through links only, and none of the
 * links they accepted proved it (a later shown link, a password reset, does not undo a proof).
 */
export function* unproven(q: Q, m: MemberRow): Work<boolean> {
  const i = q.t.invites;
  const used = yield* all(q.db.select().from(i).where(and(eq(i.accountId, m.accountId), eq(i.memberId, m.id), isNotNull(i.usedAt))));
  if (used.length === 0 || m.email === null) return false;
  for (const invite of used) if (yield* provesAddress(q, invite, m.email)) return false;
  return true;
}

/**
 * Takes an unproven address from the member holding it, for a proven claim: back to invited (no
 * password, signed out, their links ended); their keys keep working. Audited.
 */
export function* releaseAddress(q: Q, m: MemberRow, actor: string, now: number): Work<void> {
  const members = q.t.accountMembers;
  yield* run(q.db.update(members).set({ passwordHash: null, updatedAt: now }).where(eq(members.id, m.id)));
  const i = q.t.invites;
  yield* run(q.db.update(i).set({ expiresAt: now }).where(and(eq(i.memberId, m.id), isNull(i.usedAt), gt(i.expiresAt, now))));
  yield* deleteMemberSessions(q, m);
  yield* recordAudit(q, {
    actor, action: "member.address_released", targetType: "member", targetId: m.id,
    before: { email: m.email, status: "active" }, after: { account_id: m.accountId, status: "invited", reason: "address_unproven" },
  }, now);
}
