import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { leastRemaining } from "../../money/budgets";
import { readForShow } from "../../money/credit-store";
import { microsToUsd, microsToUsdFixed } from "../../money/units";
import { MeView } from "./model";

export const meModule = (deps: ModuleDeps) =>
  new Elysia({ prefix: "/v1", tags: ["customer"] })
    .use(deps.auth)
    .get(
      "/me",
      async ({ principal: p }) => {
        await readForShow(deps.credits, { accountId: p.accountId, keyId: p.keyId, capKeyId: p.capKeyId, memberId: p.memberId ?? null });
        const b = deps.credits.balance(p.accountId);
        const budgets = deps.credits.budgets({ capKeyId: p.capKeyId, memberId: p.memberId ?? null });
        const least = leastRemaining(budgets);
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
            spend_cap_micros: p.spendCapMicros,
            spent_micros: deps.credits.keySpend(p.capKeyId)?.spent ?? 0,
          },
          limits: deps.limiter.limits(p),
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
