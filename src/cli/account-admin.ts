import { microsToUsd } from "../money/units";
import { getAccountRow, updateAccount } from "../modules/accounts/service";
import { getAccountPlan, setAccountPlan } from "../modules/ratelimit/service";
import { planView } from "../modules/ratelimit/views";
import { accountViewNow } from "./server-state";
import { accountLines } from "./accounts";
import { CLI_ACTOR, pairs, positionals, type LeafCommand } from "./command";

type PlanJson = ReturnType<typeof planView>;

function planLines(p: PlanJson): string[] {
  return pairs([
    ["account", p.account_id],
    ["plan", p.plan === p.effective_plan ? p.plan : `${p.plan} (not configured: ${p.effective_plan} applies)`],
    ["rpm", String(p.limits.rpm)],
    ["tpm", String(p.limits.tpm)],
    ["concurrency", String(p.limits.concurrency)],
    ["next tier", p.next_tier ? `${p.next_tier.plan} from ${microsToUsd(p.next_tier.min_lifetime_topup_micros)} USD of lifetime top-ups` : "-"],
  ]);
}

/** `tollgate accounts plan <id> [<plan>]`: shows the account's plan, or moves it to another one. */
export const planCommand: LeafCommand = {
  summary: "Show an account's rate-limit plan, or move it to a configured plan (applies from the next request)",
  args: ["<account-id>", "[plan]"],
  examples: ["tollgate accounts plan acc_123", "tollgate accounts plan acc_123 pro --json"],
  async run(ctx, parsed) {
    const [id, plan] = positionals(parsed, this, "accounts plan");
    const config = ctx.config();
    const before = (await getAccountPlan(await ctx.db(), config, id!)).plan;
    const p = planView(plan === undefined ? await getAccountPlan(await ctx.db(), config, id!) : await setAccountPlan(await ctx.db(), config, id!, plan, CLI_ACTOR));
    const headline = plan === undefined ? [] : [before === p.plan ? `${id} is already on plan ${p.plan}` : `moved ${id} from plan ${before} to ${p.plan}`];
    ctx.print(p, () => [...headline, ...planLines(p)]);
  },
};

/** Suspend or resume: a suspended account's keys get 401 and its portal is read-only. */
function statusCommand(status: "active" | "suspended"): LeafCommand {
  const verb = status === "suspended" ? "suspend" : "resume";
  return {
    summary:
      status === "suspended"
        ? "Suspend an account: its keys are refused (401) from the next request, its portal is read-only"
        : "Resume (reactivate) a suspended account",
    args: ["<account-id>"],
    examples: [`tollgate accounts ${verb} acc_123`],
    async run(ctx, parsed) {
      const [id] = positionals(parsed, this, `accounts ${verb}`);
      const before = (await getAccountRow(await ctx.db(), id!)).status;
      const row = await updateAccount(await ctx.db(), id!, { status }, CLI_ACTOR);
      const a = await accountViewNow(ctx, row);
      const what = before === status ? `${id} was already ${status}` : `${status === "suspended" ? "suspended" : "resumed"} ${id}`;
      ctx.print(a, () => [what, ...accountLines(a)]);
    },
  };
}

export const suspendCommand = statusCommand("suspended");
export const resumeCommand = statusCommand("active");
