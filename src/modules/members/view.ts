import type { AppDeps } from "../../runtime/deps";
import { budgetsForShow, type CreditStore } from "../../money/credit-store";
import { memberStatus, ownerRow, type MemberRow } from "../../identity/members";
import type { BudgetState } from "../../money/budgets";
import type { Store } from "../../store/store";
import type { MemberViewT } from "./model";
import { memberTotals } from "./service";

const sec = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

/** Where a budget stands, as the API shows it. */
export function budgetStatus(b: BudgetState | undefined) {
  return b
    ? { period_start: sec(b.periodStart)!, resets_at: sec(b.resetsAt)!, spent_micros: b.spent, held_micros: b.held, remaining_micros: b.remaining }
    : null;
}

/** What the views read: the database, the clock and the budgets (the CLI passes its own, see cli/members.ts). */
export type MemberViewDeps = Pick<AppDeps, "now"> & { store: Store; credits: Pick<CreditStore, "budgets" | "readBudgets" | "budgetClock"> };

/**
 * The account's members as the API and the portal show them: role and status, keys that work,
 * what their keys were charged this month (in budget_timezone) and where their budget stands.
 * A removed member whose keys still work (the grace of the removal) is shown as a live one, with
 * when those keys stop: they still spend the account's credit and their budget.
 */
export async function memberViews(deps: MemberViewDeps, accountId: string, rows: readonly MemberRow[]): Promise<MemberViewT[]> {
  const now = deps.now();
  const from = deps.credits.budgetClock.periodStart("month", now);
  const t = await deps.store.read(function* (q) {
    const ownerId = (yield* ownerRow(q, accountId))?.id ?? null;
    return yield* memberTotals(q, accountId, ownerId, from, now);
  });
  const budgets = await budgetsForShow(deps.credits, rows.map((m) => ({ capKeyId: null, memberId: m.id })));
  return rows.map((m) => {
    const keys = t.keys.get(m.id) ?? 0;
    const until = t.until.get(m.id);
    const budget = budgets({ capKeyId: null, memberId: m.id })[0];
    return {
      object: "member",
      id: m.id,
      account_id: m.accountId,
      email: m.email,
      role: m.role,
      status: memberStatus(m),
      budget: m.budgetMicros !== null && m.budgetPeriod !== null ? { period: m.budgetPeriod, amount_micros: m.budgetMicros } : null,
      budget_status: m.removedAt === null || keys > 0 ? budgetStatus(budget) : null,
      active_keys: keys,
      keys_work_until: m.removedAt !== null && keys > 0 && until !== undefined && Number.isFinite(until) ? sec(until) : null,
      spent_this_month_micros: t.spend.get(m.id) ?? 0,
      last_login_at: sec(m.lastLoginAt),
      created_at: sec(m.createdAt)!,
      removed_at: sec(m.removedAt),
    };
  });
}
