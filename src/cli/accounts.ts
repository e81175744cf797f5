import { microsToUsd } from "../money/units";
import type { AccountViewT } from "../modules/accounts/model";
import { CreateAccountBody, ListAccountsQuery } from "../modules/accounts/model";
import { createAccount, getAccountRow, listAccounts } from "../modules/accounts/service";
import { accountViewNow, accountViews } from "./server-state";
import { CLI_ACTOR, isoTime, pairs, positionals, table, validate, type CliContext, type GroupCommand } from "./command";

export function accountLines(a: AccountViewT): string[] {
  return pairs([
    ["id", a.id],
    ["name", a.name],
    ["email", a.email ?? "-"],
    ["plan", a.plan],
    ["status", a.status],
    ["balance", `${a.balance_usd} USD`],
    ["held", `${microsToUsd(a.held_micros)} USD`],
    ["available", `${a.available_usd} USD`],
    ["created", isoTime(a.created_at * 1000)],
  ]);
}

export const accountsCommand: GroupCommand = {
  summary: "Customer accounts",
  subcommands: {
    create: {
      summary: "Create a customer account",
      args: ["<name>"],
      options: {
        email: { type: "string", value: "<email>", describe: "contact email" },
        plan: { type: "string", value: "<plan>", describe: "plan name (default: default)" },
      },
      examples: ['tollgate accounts create "Acme Inc" --email ops@acme.test', "tollgate accounts create Acme --json"],
      async run(ctx, parsed) {
        const [name] = positionals(parsed, this, "accounts create");
        const input = validate(
          CreateAccountBody,
          { name, email: parsed.options.email, plan: parsed.options.plan },
          (f) => (f === "name" ? "name" : `--${f}`),
        );
        const a = await accountViewNow(ctx, await createAccount(await ctx.db(), input, CLI_ACTOR, Date.now(), ctx.config()));
        ctx.print(a, () => [`created account ${a.id}`, ...accountLines(a)]);
      },
    },
    list: {
      summary: "List accounts, newest first",
      options: {
        q: { type: "string", value: "<text>", describe: "search in name, email and id" },
        limit: { type: "string", value: "<n>", describe: "at most n accounts (default 100, max 500)" },
        offset: { type: "string", value: "<n>", describe: "skip the first n" },
      },
      examples: ["tollgate accounts list", "tollgate accounts list --q acme --json"],
      async run(ctx, parsed) {
        positionals(parsed, this, "accounts list");
        const o = parsed.options;
        const q = validate(ListAccountsQuery, { q: o.q, limit: o.limit, offset: o.offset }, (f) => `--${f}`);
        const rows = await listAccounts(await ctx.db(), { ...q, limit: q.limit + 1 });
        const data = await accountViews(ctx, rows.slice(0, q.limit));
        ctx.print({ object: "list", data, has_more: rows.length > q.limit }, () =>
          data.length === 0
            ? "no accounts"
            : table(data, [
                ["id", (a) => a.id],
                ["name", (a) => a.name],
                ["email", (a) => a.email ?? "-"],
                ["plan", (a) => a.plan],
                ["status", (a) => a.status],
                ["balance_usd", (a) => a.balance_usd],
                ["available_usd", (a) => a.available_usd],
                ["created", (a) => isoTime(a.created_at * 1000)],
              ]),
        );
      },
    },
    show: {
      summary: "One account with balance, held and available credit",
      args: ["<account-id>"],
      examples: ["tollgate accounts show acc_123 --json"],
      async run(ctx, parsed) {
        const [id] = positionals(parsed, this, "accounts show");
        const a = await accountViewNow(ctx, await getAccountRow(await ctx.db(), id!));
        ctx.print(a, () => accountLines(a));
      },
    },
  },
};
