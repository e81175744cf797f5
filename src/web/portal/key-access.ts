import type { Store } from "../../store/store";
import { ApiError, errors } from "../../lib/errors";
import { listKeys, type KeyRow } from "../../modules/keys/service";
export { lineOf, rotationLines, type KeyLine } from "../../modules/keys/lines";
import type { PortalUser } from "../session";
import { ownKey } from "./service";
import { seesAll } from "./page-kit";

/** Whether the member's own key: made by them, or (for the owner) made by the operator or before teams. */
export function isMine(u: PortalUser, k: Pick<KeyRow, "memberId">): boolean {
  return k.memberId === null ? u.member.role === "owner" : k.memberId === u.member.id;
}

/** The keys the signed-in member may see and change: all of the account's for owners and admins, else their own. */
export async function visibleKeys(store: Store, u: PortalUser): Promise<KeyRow[]> {
  const all = await listKeys(store, u.account.id);
  return seesAll(u) ? all : all.filter((k) => isMine(u, k));
}

/** A key the member may see and change; anyone else's looks exactly like a missing one. */
export async function visibleKey(store: Store, u: PortalUser, keyId: string): Promise<KeyRow> {
  const k = await ownKey(store, u.account.id, keyId);
  if (!seesAll(u) && !isMine(u, k)) throw errors.notFound("API key");
  return k;
}

/**
 * Whether the member may rotate the key. Rotation shows the new secret to whoever rotates, and the
 * key stays its maker's (an owner's key passes the owner-only routes), so only its maker or the
 * owner may; admins still see, edit and revoke every key.
 */
export const mayRotate = (u: PortalUser, k: Pick<KeyRow, "memberId">): boolean => u.member.role === "owner" || isMine(u, k);

/** A key the member may rotate (see mayRotate); another member's key they see is refused with why. */
export async function rotatableKey(store: Store, u: PortalUser, keyId: string): Promise<KeyRow> {
  const k = await visibleKey(store, u, keyId);
  if (!mayRotate(u, k)) {
    throw new ApiError(403, "Only the member who made this key, or the account's owner, can rotate it. You can still revoke it.", "permission_error", "not_key_maker");
  }
  return k;
}
