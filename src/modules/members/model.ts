import { z } from "zod";
import { queryInt } from "../../lib/query-int";
import { InviteView } from "../../identity/logins/model";
import { EmailAddress } from "../accounts/model";
import { Budget } from "../keys/model";

export const RoleEnum = z.enum(["owner", "admin", "member"]);
/** Roles an invite or a role change may give: there is one owner, never made or unmade here. */
export const GrantedRole = z.enum(["admin", "member"]);

export const InviteMemberBody = z.strictObject({
  email: EmailAddress.describe("Where the invite link goes; the member signs in with it."),
  role: GrantedRole.default("member").describe("admin: all keys and usage; member: only their own keys and usage."),
});

export const UpdateMemberBody = z.strictObject({
  role: GrantedRole.optional(),
  budget: Budget.nullable().optional().describe("What all of the member's keys together may spend per period; null = none."),
});

/** A new link takes nothing but the member (an empty object, or no body). */
export const ReinviteBody = z.strictObject({});

export const ListMembersQuery = z.object({ removed: z.enum(["true", "false"]).optional().describe("true: removed members too.") });

export const RemoveMemberQuery = z.object({
  grace_seconds: queryInt(0, 30 * 86400).default(0)
    .describe("When the member's keys stop working (0 = now); they are revoked through their expiry, as rotation does."),
});

export const BudgetStatus = z.object({
  period_start: z.number().int().describe("Unix seconds."),
  resets_at: z.number().int().describe("Unix seconds: the next period's start in budget_timezone."),
  spent_micros: z.number().int(),
  held_micros: z.number().int(),
  remaining_micros: z.number().int().describe("amount - spent - held; below zero after an overage."),
});

export const MemberView = z.object({
  object: z.literal("member"),
  id: z.string(),
  account_id: z.string(),
  email: z.string().nullable(),
  role: RoleEnum,
  status: z.enum(["active", "invited", "removed"]),
  budget: Budget.nullable(),
  budget_status: BudgetStatus.nullable(),
  active_keys: z.number().int().describe("Keys of the member that work now (the owner's include keys made by the operator; a removed member's during the grace of the removal)."),
  keys_work_until: z.number().int().nullable()
    .describe("A removed member whose keys still work (the grace of the removal): when the last of them stops, unix seconds; else null."),
  spent_this_month_micros: z.number().int().describe("Charged to the member's keys since the month began (in budget_timezone), from the member's budget days (budget_spend), which every charge adds to: the whole month whatever usage_retention_days is. The owner's also counts the charges of the account's keys that went to no member (before its first invite)."),
  last_login_at: z.number().int().nullable(),
  created_at: z.number().int(),
  removed_at: z.number().int().nullable(),
});

export const MemberList = z.object({ object: z.literal("list"), data: z.array(MemberView) });
export const InvitedMember = z.object({ object: z.literal("member_invite"), member: MemberView, invite: InviteView });
export const RemovedMember = MemberView.extend({
  revoked_keys: z.array(z.string())
    .describe("The member's keys that worked until this removal: revoked now (grace 0), or expiring by keys_stop_at. Removing again stops them sooner, never later."),
  keys_stop_at: z.number().int().describe("Unix seconds when the last of those keys stops working (now when none worked)."),
});

export type MemberViewT = z.infer<typeof MemberView>;
export type GrantedRoleT = z.infer<typeof GrantedRole>;
