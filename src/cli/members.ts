import { getMemberRow, listMemberRows } from "../identity/members";
import { storedMemberBudgets } from "../money/budgets";
import { BudgetBook } from "../money/budget-book";
import { BudgetClock } from "../money/budget-clock";
import { Unapplied } from "../money/unapplied";
import { microsToUsd } from "../money/units";
import { getAccountRow } from "../modules/accounts/service";
import { GrantedRole, InviteMemberBody, RemoveMemberQuery, type MemberViewT } from "../modules/members/model";
import { inviteMember, removeMember, setMemberBudget, setMemberRole } from "../modules/members/service";
import { memberViews, type MemberViewDeps } from "../modules/members/view";
import { UsageError } from "./args";
import { CLI_ACTOR, isoTime, pairs, positionals, table, validate, type CliContext, type GroupCommand } from "./command";
import { parseUsd } from "./credits";
import { dashboardBase } from "./invite";

/**
 * What the member views read, from the database alone: the CLI does not own the server's holds or
 * its journal, so a budget shows what the database has (SQLite: at most settle_batch_ms behind the
 * server; PostgreSQL: spend committed, nothing held).
 */
async function viewDeps(ctx: CliContext, ids: readonly string[]): Promise<MemberViewDeps> {
  const store = await ctx.db();
  const clock = new BudgetClock(ctx.config().budget_timezone);
  if (ctx.shared) {
    const states = await store.read((q) => storedMemberBudgets(q, clock, ids, Date.now()));
    return { store, now: Date.now, credits: { budgetClock: clock, budgets: (q) => (q.memberId && states.has(q.memberId) ? [states.get(q.memberId)!] : []) } };
  }
  const book = new BudgetBook(ctx.sqlite(), clock, () => new Unapplied(clock), Date.now);
  return { store, now: Date.now, credits: { budgetClock: clock, budgets: (q) => book.states({ capKeyId: null, keyRule: null, keyHeld: 0, memberId: q.memberId }) } };
}

async function views(ctx: CliContext, accountId: string, ids?: string[]) {
  const store = await ctx.db();
  const rows = ids ? await Promise.all(ids.map((id) => getMemberRow(store, id))) : await listMemberRows(store, accountId);
  return memberViews(await viewDeps(ctx, rows.map((r) => r.id)), accountId, rows);
}

const budgetText = (m: MemberViewT) => (m.budget ? `${microsToUsd(m.budget.amount_micros)} USD per ${m.budget.period}` : "none");

function memberLines(m: MemberViewT): string[] {
  return pairs([
    ["id", m.id],
    ["account", m.account_id],
    ["email", m.email ?? "-"],
    ["role", m.role],
    ["status", m.status],
    ["active keys", String(m.active_keys)],
    ["this month", `${microsToUsd(m.spent_this_month_micros)} USD`],
    ["budget", budgetText(m)],
    ["budget left", m.budget_status ? `${microsToUsd(Math.max(0, m.budget_status.remaining_micros))} USD until ${isoTime(m.budget_status.resets_at * 1000)}` : "-"],
    ["last sign-in", isoTime(m.last_login_at === null ? null : m.last_login_at * 1000)],
  ]);
}

export const membersCommand: GroupCommand = {
  summary: "An account's portal members (owner, admins, members)",
  subcommands: {
    list: {
      summary: "An account's members, the owner first",
      args: ["<account-id>"],
      examples: ["tollgate members list acc_123", "tollgate members list acc_123 --json"],
      async run(ctx, parsed) {
        const [accountId] = positionals(parsed, this, "members list");
        await getAccountRow(await ctx.db(), accountId!);
        const data = await views(ctx, accountId!);
        ctx.print({ object: "list", data }, () =>
          data.length === 0
            ? `no members for ${accountId} (invite the owner with 'tollgate accounts invite')`
            : table(data, [
                ["id", (m) => m.id], ["email", (m) => m.email ?? "-"], ["role", (m) => m.role], ["status", (m) => m.status],
                ["keys", (m) => String(m.active_keys)], ["month_usd", (m) => microsToUsd(m.spent_this_month_micros)], ["budget", budgetText],
              ]),
        );
      },
    },
    invite: {
      summary: "Invite someone by email with a role; prints the one-time link to send them",
      args: ["<account-id>", "<email>"],
      options: { role: { type: "string", value: "<admin|member>", describe: "admin: all keys and usage; member (default): their own" } },
      examples: ["tollgate members invite acc_123 dev@acme.test --role admin"],
      async run(ctx, parsed) {
        const [accountId, email] = positionals(parsed, this, "members invite");
        const body = validate(InviteMemberBody, { email, role: parsed.options.role }, (f) => (f === "email" ? "email" : `--${f}`));
        const config = ctx.config();
        const r = await inviteMember(await ctx.db(), { accountId: accountId!, ...body, ttlMs: config.invite_ttl_hours * 3_600_000, actor: CLI_ACTOR, baseUrl: dashboardBase(config) });
        const m = (await views(ctx, accountId!, [r.member.id]))[0]!;
        ctx.print({ object: "member_invite", member: m, invite: r.invite }, () => [
          `invited ${m.email} as ${m.role} (member ${m.id}); send them this link (shown once):`, r.invite.url, ...pairs([["expires", isoTime(r.invite.expires_at * 1000)]]),
        ]);
      },
    },
    role: {
      summary: "Make a member an admin or a member (the owner's role stays)",
      args: ["<member-id>", "<admin|member>"],
      async run(ctx, parsed) {
        const [id, roleText] = positionals(parsed, this, "members role");
        const role = validate(GrantedRole, roleText, () => "role");
        const row = await setMemberRole(await ctx.db(), id!, role, CLI_ACTOR);
        const m = (await views(ctx, row.accountId, [row.id]))[0]!;
        ctx.print(m, () => [`${m.email ?? m.id} is now ${m.role}`, ...memberLines(m)]);
      },
    },
    budget: {
      summary: "Set what a member's keys together may spend per day, week or month (none removes it)",
      args: ["<member-id>", "<usd|none>"],
      options: { period: { type: "string", value: "<day|week|month>", describe: "the budget's period (default month)" } },
      examples: ["tollgate members budget mem_123 200 --period month", "tollgate members budget mem_123 none"],
      async run(ctx, parsed) {
        const [id, amount] = positionals(parsed, this, "members budget");
        const period = String(parsed.options.period ?? "month");
        if (period !== "day" && period !== "week" && period !== "month") throw new UsageError(`--period: expected day, week or month, got ${JSON.stringify(period)}`);
        const micros = amount === "none" ? null : parseUsd(amount!, "usd");
        if (micros !== null && micros <= 0) throw new UsageError("usd: must be greater than zero (or none)");
        const row = await setMemberBudget(await ctx.db(), id!, micros === null ? null : { period, amount_micros: micros }, CLI_ACTOR);
        const m = (await views(ctx, row.accountId, [row.id]))[0]!;
        ctx.print(m, () => [`budget of ${m.email ?? m.id}: ${budgetText(m)}`, ...memberLines(m)]);
      },
    },
    remove: {
      summary: "Remove a member: signed out now; their keys stop after the grace period (default 0: now)",
      args: ["<member-id>"],
      options: { grace: { type: "string", value: "<seconds>", describe: "how long their keys keep working" } },
      examples: ["tollgate members remove mem_123 --grace 86400"],
      async run(ctx, parsed) {
        const [id] = positionals(parsed, this, "members remove");
        const grace = parsed.options.grace;
        // Checked here: the query schema coerces, and would read a blank --grace as 0 (keys revoked at once).
        if (grace !== undefined && !/^\d+$/.test(String(grace))) throw new UsageError(`--grace: expected whole seconds, got ${JSON.stringify(grace)}`);
        const { grace_seconds } = validate(RemoveMemberQuery, { grace_seconds: grace === undefined ? undefined : Number(grace) }, () => "--grace");
        const r = await removeMember(await ctx.db(), id!, grace_seconds, CLI_ACTOR);
        const m = (await views(ctx, r.member.accountId, [r.member.id]))[0]!;
        const keys = { revoked_keys: r.keys, keys_stop_at: Math.floor(r.stopAt / 1000) };
        ctx.print({ ...m, ...keys }, () => [
          `removed ${m.email ?? m.id}; ${r.keys.length} key(s) ${grace_seconds === 0 ? "revoked now" : `stop at ${isoTime(r.stopAt)}`}`,
          ...memberLines(m),
        ]);
      },
    },
  },
};
