import { z } from "zod";
import { Money } from "../accounts/model";
import { MeLimits } from "../ratelimit/model";

export const MeBudget = z.object({
  scope: z.enum(["key", "member"]),
  period: z.enum(["day", "week", "month"]),
  amount_micros: z.number().int(),
  spent_micros: z.number().int().describe("Charged since the period began."),
  held_micros: z.number().int().describe("Held by requests in flight."),
  remaining_micros: z.number().int(),
  remaining_usd: z.string(),
  period_start: z.number().int().describe("Unix seconds."),
  resets_at: z.number().int().describe("Unix seconds."),
  time_zone: z.string().describe("budget_timezone: periods start at midnight there."),
});

export const MeView = z.object({
  object: z.literal("me"),
  account_id: z.string(),
  account_name: z.string(),
  plan: z.string(),
  ...Money,
  key: z.object({
    id: z.string(),
    member_id: z.string().nullable().describe("The member whose key it is (the owner for keys the operator made); null: the account has no members."),
    name: z.string(),
    display: z.string(),
    expires_at: z.number().int().nullable(),
    models: z.array(z.string()).nullable(),
    spend_cap_micros: z.number().int().nullable(),
    spent_micros: z.number().int(),
  }),
  limits: MeLimits.describe("Rate limits (the tighter of key and account levels) and what remains now."),
  budgets: z.array(MeBudget).describe("The key's budget (of its rotation line) and its member's, where set; empty without any."),
  budget_remaining_usd: z.string().nullable().describe("What the tightest budget leaves now (as x-budget-remaining); null without a budget."),
});
export type MeViewT = z.infer<typeof MeView>;
