import { and, eq, or, sql, type SQLWrapper } from "drizzle-orm";
import { listAccounts } from "../../modules/accounts/service";
import { accountNames } from "../../modules/usage/query";
import type { Store } from "../../store/store";
import { all } from "../../store/work";
import type { FilterField } from "../portal/views/usage";
import { keyChoices, keyLabels } from "./service";

/**
 * The console's Account and Key filters. A select lists at most CHOICES_CAP entries; past that the
 * filter is a text field (a name or an id) with the newest as suggestions. Either way the chosen
 * one is always among the choices, and text that names no single one is said so, never dropped.
 */
export const CHOICES_CAP = 500;

/** What a filter's text names: an id (or the text itself when it names none), and why not, if so. */
export interface Picked {
  id: string;
  problem: string | null;
}

/** The account a filter's text names: its id, else the one account of that name, else the one whose name, email or id contains it. */
export async function pickAccount(store: Store, text: string): Promise<Picked> {
  if (!text || (await store.read((q) => accountNames(q, [text]))).has(text)) return { id: text, problem: null };
  const named = await store.read((q) => {
    const a = q.t.accounts;
    return all(q.db.select({ id: a.id }).from(a).where(sameText(a.name, text)).limit(2));
  });
  if (named.length === 1) return { id: named[0]!.id, problem: null };
  const found = named.length ? [] : await listAccounts(store, { limit: 2, offset: 0, q: text });
  if (found.length === 1) return { id: found[0]!.id, problem: null };
  const several = named.length > 1 || found.length > 1;
  return { id: text, problem: several ? `Several accounts match “${text}”: choose one of the suggestions, or enter its id.` : `No account matches “${text}”.` };
}

/** A name equal to the text, in any case (SQLite's lower() folds ASCII only, so the exact text is matched too). */
const sameText = (col: SQLWrapper, text: string) => or(eq(col, text), sql`lower(${col}) = ${text.toLowerCase()}`);

/** The key a filter's text names: its id, or the one key of that name (in the chosen account, if any). */
export async function pickKey(store: Store, text: string, accountId: string): Promise<Picked> {
  if (!text || (await keyLabels(store, [text])).has(text)) return { id: text, problem: null };
  const ids = await store.read((q) => {
    const k = q.t.apiKeys;
    return all(q.db.select({ id: k.id }).from(k).where(and(sameText(k.name, text), accountId ? eq(k.accountId, accountId) : undefined)).limit(2));
  });
  if (ids.length === 1) return { id: ids[0]!.id, problem: null };
  return { id: text, problem: ids.length ? `Several keys are named “${text}”: choose one of the suggestions, or enter its id.` : `No key matches “${text}”.` };
}

/** The Account filter of a page whose chosen account is `picked`. */
export async function accountFilter(store: Store, picked: Picked): Promise<FilterField> {
  const newest = await listAccounts(store, { limit: CHOICES_CAP + 1, offset: 0 });
  const options = newest.slice(0, CHOICES_CAP).map((a) => ({ value: a.id, label: a.name }));
  const names = await store.read((q) => accountNames(q, picked.id ? [picked.id] : []));
  return withChosen({ name: "account", label: "Account", all: "All accounts", options, typed: newest.length > CHOICES_CAP }, picked, names);
}

/** The Key filter: the chosen account's keys, or every account's ("account · key"). */
export async function keyFilter(store: Store, picked: Picked, accountId: string): Promise<FilterField> {
  const newest = await keyChoices(store, accountId || undefined, CHOICES_CAP + 1);
  const labels = await keyLabels(store, [picked.id]);
  return withChosen({ name: "key", label: "Key", all: "All keys", options: newest.slice(0, CHOICES_CAP), typed: newest.length > CHOICES_CAP }, picked, labels);
}

/** The field with the chosen entry among its options (first, when it is not among the newest) and what it names. */
function withChosen(f: FilterField, picked: Picked, labels: Map<string, string>): FilterField {
  if (!picked.id) return f;
  const listed = f.options.find((o) => o.value === picked.id);
  const label = listed?.label ?? labels.get(picked.id);
  const options = listed ? f.options : [{ value: picked.id, label: label ?? picked.id }, ...f.options];
  return { ...f, options, problem: picked.problem, chosen: label };
}
