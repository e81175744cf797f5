import { desc, eq, or } from "drizzle-orm";
import { errors } from "../../lib/errors";
import { isPlan, type PlanPolicy } from "../../gateway/limits/plans";
import { newId } from "../../lib/ids";
import type { CreditStore } from "../../money/credit-store";
import { microsToUsd } from "../../money/units";
import { contains } from "../../store/contains";
import type { accounts } from "../../store/schema";
import type { SqliteStore } from "../../store/sqlite-store";
import type { Store } from "../../store/store";
import { all, get, type Q, run, type Work } from "../../store/work";
import { recordAudit } from "../audit/service";
import type { AccountViewT, CreateAccountInput, UpdateAccountInput } from "./model";

export type AccountRow = typeof accounts.$inferSelect;

/** The account, or 404. */
export function* accountRow(q: Q, id: string): Work<AccountRow> {
  const row = yield* get(q.db.select().from(q.t.accounts).where(eq(q.t.accounts.id, id)));
  if (!row) throw errors.notFound(`Account ${id}`, "id");
  return row;
}

export const getAccountRow = (store: Store, id: string): Promise<AccountRow> => store.read((q) => accountRow(q, id));

/** Refuses a plan that is not configured: an account on it would quietly get the default plan's limits. */
export function checkPlan(policy: PlanPolicy, plan: string): void {
  if (!isPlan(policy, plan)) {
    throw errors.badRequest(`Unknown plan ${JSON.stringify(plan)}; configured plans: ${Object.keys(policy.plans).join(", ")}.`, "plan", "unknown_plan");
  }
}

export function* insertAccount(q: Q, input: CreateAccountInput, actor: string, now: number): Work<AccountRow> {
  const row: AccountRow = {
    id: newId("acc"),
    name: input.name,
    email: input.email ?? null,
    plan: input.plan ?? "default",
    status: "active",
    balanceMicros: 0,
    lifetimeTopupMicros: 0,
    createdAt: now,
  };
  yield* run(q.db.insert(q.t.accounts).values(row));
  yield* recordAudit(q, { actor, action: "account.create", targetType: "account", targetId: row.id, after: row }, now);
  return row;
}

/** Creates an account; with `policy` (the configured plans), a plan it does not configure is refused. */
export function createAccount(store: Store, input: CreateAccountInput, actor: string, now = Date.now(), policy?: PlanPolicy): Promise<AccountRow> {
  if (policy && input.plan !== undefined) checkPlan(policy, input.plan);
  return store.tx((q) => insertAccount(q, input, actor, now), { durable: true });
}

/**
 * Changes the fields of `input` that differ from the account's; a change that changes nothing (the
 * status it has, its own name) is a read, as every other admin change: no write, no audit row,
 * no durable commit. The row is compared again in the transaction, which a change raced.
 */
export async function updateAccount(store: Store, id: string, input: UpdateAccountInput, actor: string, now = Date.now()): Promise<AccountRow> {
  const current = await getAccountRow(store, id);
  if (Object.keys(changes(current, input)).length === 0) return current;
  // A suspension or a new plan applies from the next request on every instance.
  return store.tx(
    function* (q) {
      const before = yield* accountRow(q, id);
      const patch = changes(before, input);
      if (Object.keys(patch).length === 0) return before;
      const [after] = yield* all(q.db.update(q.t.accounts).set(patch).where(eq(q.t.accounts.id, id)).returning());
      yield* recordAudit(q, { actor, action: "account.update", targetType: "account", targetId: id, before: pick(before, patch), after: patch }, now);
      return after!;
    },
    { durable: true, notify: true },
  );
}

/** The fields of `input` given (not undefined) whose value differs from the row's. */
function changes(row: AccountRow, input: UpdateAccountInput): UpdateAccountInput {
  return Object.fromEntries(Object.entries(input).filter(([k, v]) => v !== undefined && v !== row[k as keyof AccountRow]));
}

export function listAccounts(store: Store, f: { limit: number; offset: number; q?: string }): Promise<AccountRow[]> {
  return store.read((q) => {
    const a = q.t.accounts;
    const match = f.q ? or(contains(q, a.name, f.q), contains(q, a.email, f.q), contains(q, a.id, f.q)) : undefined;
    return all(q.db.select().from(a).where(match).orderBy(desc(a.createdAt), desc(a.id)).limit(f.limit).offset(f.offset));
  });
}

/**
 * What the gateway has of an account beyond its row: its holds, and its charges the row does not
 * have yet (SQLite: journaled, not yet written, e.g. while another process holds the lock).
 */
export interface Unsettled {
  held(accountId: string): number;
  unwritten(accountId: string): number;
}

/** A running gateway's own: what its credit store counts, as /v1/me shows it. */
export const unsettledOf = (credits: CreditStore): Unsettled => ({
  held: (id) => credits.balance(id).held,
  // `unavailable` is the holds and the unwritten charges (PostgreSQL: the holds alone).
  unwritten: (id) => credits.unavailable(id) - credits.balance(id).held,
});

/**
 * As `unsettledOf`, with what other instances' requests hold of these accounts (a shared store):
 * any instance shows an account alike.
 */
export async function unsettledFor(credits: CreditStore, accountIds: readonly string[]): Promise<Unsettled> {
  const own = unsettledOf(credits);
  const others = await credits.heldByOthers?.(accountIds);
  if (!others || others.size === 0) return own;
  return { held: (id) => own.held(id) + (others.get(id) ?? 0), unwritten: own.unwritten };
}

/** The views of these accounts, holds everywhere counted (see unsettledFor). */
export async function accountViews(credits: CreditStore, rows: readonly AccountRow[]): Promise<AccountViewT[]> {
  const u = await unsettledFor(credits, rows.map((r) => r.id));
  return rows.map((r) => accountView(r, u));
}

export function accountView(row: AccountRow, u: Unsettled): AccountViewT {
  const balance = row.balanceMicros - u.unwritten(row.id);
  const heldMicros = u.held(row.id);
  const available = balance - heldMicros;
  return {
    id: row.id,
    object: "account",
    name: row.name,
    email: row.email,
    plan: row.plan,
    status: row.status,
    balance_micros: balance,
    held_micros: heldMicros,
    available_micros: available,
    balance_usd: microsToUsd(balance),
    held_usd: microsToUsd(heldMicros),
    available_usd: microsToUsd(available),
    lifetime_topup_micros: row.lifetimeTopupMicros,
    created_at: Math.floor(row.createdAt / 1000),
  };
}

function pick(row: Record<string, unknown>, keys: Record<string, unknown>) {
  return Object.fromEntries(Object.keys(keys).map((k) => [k, row[k]]));
}
