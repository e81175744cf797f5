import { ApiError, errors } from "../../lib/errors";
import type { Store } from "../../store/store";
import { accountRow } from "../accounts/service";
import { keyRow } from "../keys/service";

/** A row looked up by an id a query parameter named: its 404 names that parameter, not a path id. */
export function namedBy<T>(find: () => Promise<T>, what: string, param: string): Promise<T> {
  return find().catch((e: unknown) => {
    throw e instanceof ApiError && e.status === 404 ? errors.notFound(what, param) : e;
  });
}

/**
 * Refuses a report filter naming an account or key that does not exist (404 naming the param):
 * a mistyped id would otherwise read as an account or key with no usage, an empty invoice.
 * Accounts and keys are never deleted, so every id a usage row holds still exists.
 */
export async function checkNamed(store: Store, accountId: string | null | undefined, keyId: string | null | undefined): Promise<void> {
  if (accountId) await namedBy(() => store.read((q) => accountRow(q, accountId)), `Account ${accountId}`, "account_id");
  if (keyId) await namedBy(() => store.read((q) => keyRow(q, keyId)), `API key ${keyId}`, "key_id");
}
