import { ApiError, errors } from "../../lib/errors";
import type { Store } from "../../store/store";
import { accountRow } from "../accounts/service";
import { keyRow } from "../keys/service";

/** A 404 of a row looked up by id, renamed after the query parameter that named it. */
async function mustExist(find: () => Promise<unknown>, what: string, param: string): Promise<void> {
  await find().catch((e: unknown) => {
    throw e instanceof ApiError && e.status === 404 ? errors.notFound(what, param) : e;
  });
}

/**
 * Refuses a report filter naming an account or key that does not exist (404 naming the param):
 * a mistyped id would otherwise read as an account or key with no usage, an empty invoice.
 * Accounts and keys are never deleted, so every id a usage row holds still exists.
 */
export async function checkNamed(store: Store, accountId: string | null | undefined, keyId: string | null | undefined): Promise<void> {
  if (accountId) await mustExist(() => store.read((q) => accountRow(q, accountId)), `Account ${accountId}`, "account_id");
  if (keyId) await mustExist(() => store.read((q) => keyRow(q, keyId)), `API key ${keyId}`, "key_id");
}
