import type { Store } from "../../store/store";
import { lineOf, rotationLines } from "../keys/lines";
import { keyRow, listKeys } from "../keys/service";
import type { UsageFilter } from "./service";

/**
 * A key filter covers the key's rotation line (the keys it replaced and those that replaced it),
 * whose spend /v1/me shows as the key's; a key not of the account (or of no account) matches nothing.
 * GET /v1/usage, GET /admin/usage and `tollgate usage --key` all read a key filter through this.
 */
export async function byKeyLine(store: Store, f: UsageFilter): Promise<UsageFilter> {
  const keyId = f.keyId;
  if (!keyId) return f;
  const accountId = f.accountId ?? (await store.read((q) => keyRow(q, keyId)).catch(() => null))?.accountId;
  const line = accountId ? lineOf(rotationLines(await listKeys(store, accountId)), keyId) : undefined;
  if (!line) return f;
  const ids = line.keys.map((k) => k.id);
  return { ...f, keyId: undefined, keyIds: f.keyIds ? ids.filter((id) => f.keyIds!.includes(id)) : ids };
}
