import { eq } from "drizzle-orm";
import type { Store } from "../store/store";
import { get } from "../store/work";

/** Who asks for an object made through the shared upstream key: a customer key (a Principal fits). */
export interface Asker {
  accountId: string;
  keyId?: string;
  /** The key's member (its budget's); absent: the account as a whole. */
  memberId?: string | null;
  /** The key's models allow-list (null: all). */
  models?: readonly string[] | null;
}

/**
 * Whether `who` may reach an object (a stored response, a deferred result) that its account's key
 * `keyId` made: an owner's or admin's key any of the account's, a member-role key only its own
 * member's, as /v1/usage scopes it, and never one of a model the key may not use. Anything else
 * looks missing (404), whatever the upstream holds.
 */
export async function reaches(store: Store, who: Asker, row: { accountId: string; keyId: string | null; model: string }): Promise<boolean> {
  if (row.accountId !== who.accountId) return false;
  if (who.models && !who.models.includes(row.model)) return false;
  if (!who.memberId || (who.keyId !== undefined && row.keyId === who.keyId)) return true;
  const memberId = who.memberId;
  const member = await store.read((q) => get(q.db.select({ role: q.t.accountMembers.role }).from(q.t.accountMembers).where(eq(q.t.accountMembers.id, memberId))));
  if (member?.role !== "member") return true;
  if (row.keyId === null) return false;
  const keyId = row.keyId;
  const key = await store.read((q) => get(q.db.select({ memberId: q.t.apiKeys.memberId }).from(q.t.apiKeys).where(eq(q.t.apiKeys.id, keyId))));
  return key?.memberId === memberId;
}
