import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { leastRemaining } from "../../money/budgets";
import { balanceForShow, budgetsForShow, readForShow } from "../../money/credit-store";
import { microsToUsd, microsToUsdFixed } from "../../money/units";
import { getKeyRow } from "../keys/service";
import { MeView } from "./model";

/**
 * The cap and spend of the key's line, held on its newest key: a key in its rotation grace is held
 * against that cap, not its own row's. PostgreSQL's credit store knows only lines with a cap it
 * leased; for the others the row, written with every charge, has the spend.
 */
async function lineSpend(deps: ModuleDeps, capKeyId: string): Promise<{ cap: number | null; spent: number }> {
  const known = deps.credits.keySpend(capKeyId);
  if (known) return known;
  const row = await getKeyRow(deps.store, capKeyId);
  return { cap: row.spendCapMicros, spent: row.spentMicros };
}

export const meModule = (deps: ModuleDeps) =>
  new Elysia({ prefix: "/v1", tags: ["customer"] })
    .use(deps.auth)
    .get(
      "/me",
      async ({ principal: p }) => {
        await readForShow(deps.credits, { accountId: p.accountId, keyId: p.keyId, capKeyId: p.capKeyId, memberId: p.memberId ?? null });
        // Every instance answers alike: other instances' holds count too.
        const b = await balanceForShow(deps.credits, p.accountId);
        const owners = { capKeyId: p.capKeyId, memberId: p.memberId ?? null };
        const budgets = (await budgetsForShow(deps.credits, [owners]))(owners);
        const least = leastRemaining(budgets);
        const line = await lineSpend(deps, p.capKeyId);
        return {
          object: "me" as const,
          account_id: p.accountId,
          account_name: p.accountName,
          plan: p.plan,
          balance_micros: b.balance,
          held_micros: b.held,
          available_micros: b.available,
          balance_usd: microsToUsd(b.balance),
          held_usd: microsToUsd(b.held),
          available_usd: microsToUsd(b.available),
          key: {
            id: p.keyId,
            member_id: p.memberId ?? null,
            name: p.keyName,
            display: p.keyDisplay,
            expires_at: p.expiresAt === null ? null : Math.floor(p.expiresAt / 1000),
            models: p.models,
            spend_cap_micros: line.cap,
            spent_micros: line.spent,
          },
          limits: (await deps.limiter.freshLimits?.(p)) ?? deps.limiter.limits(p),
          budgets: budgets.map((b) => ({
            scope: b.scope, period: b.period, amount_micros: b.limit, spent_micros: b.spent, held_micros: b.held, remaining_micros: b.remaining,
            remaining_usd: microsToUsd(Math.max(0, b.remaining)), period_start: Math.floor(b.periodStart / 1000), resets_at: Math.floor(b.resetsAt / 1000),
            time_zone: deps.credits.budgetClock.timeZone,
          })),
          budget_remaining_usd: least === null ? null : microsToUsdFixed(least),
        };
      },
      {
        customer: true,
        response: MeView,
        detail: { summary: "The calling key's account: balance, held and available credit, and the key itself" },
      },
    );
