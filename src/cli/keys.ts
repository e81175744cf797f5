import { microsToUsd } from "../money/units";
import { getAccountRow } from "../modules/accounts/service";
import { CreateKeyBody, RotateKeyBody, type KeyViewT } from "../modules/keys/model";
import { createKey, getKeyRow, keyView, listKeys, revokeKey, rotateKey } from "../modules/keys/service";
import { UsageError } from "./args";
import { CLI_ACTOR, isoTime, pairs, positionals, table, validate, type CliContext, type GroupCommand } from "./command";
import { parseUsd } from "./credits";
import { parseExpires } from "./key-args";
import { keysUpdateCommand } from "./keys-update";

const sec = (s: number | null) => isoTime(s === null ? null : s * 1000);

function keyLines(k: KeyViewT): string[] {
  return pairs([
    ["id", k.id],
    ["account", k.account_id],
    ["name", k.name || "-"],
    ["display", k.display],
    ["status", k.status],
    ["models", k.models ? k.models.join(",") : "all"],
    ["expires", sec(k.expires_at)],
    ["spend cap", k.spend_cap_micros === null ? "none" : `${microsToUsd(k.spend_cap_micros)} USD`],
    ["budget", k.budget ? `${microsToUsd(k.budget.amount_micros)} USD per ${k.budget.period}` : "none"],
    ["spent", `${microsToUsd(k.spent_micros)} USD`],
    ["member", k.member_id ?? "owner"],
    ["last used", sec(k.last_used_at)],
    ["rotated to", k.rotated_to ?? "-"],
    ["created", sec(k.created_at)],
  ]);
}

/** A newly issued key: printed once, never stored in the clear. */
function printCreated(ctx: CliContext, view: KeyViewT, key: string, headline: string): void {
  ctx.print({ ...view, key }, () => [
    headline,
    ...keyLines(view),
    "",
    key,
    "",
    "This key is shown only once: store it now (only its hash is kept).",
  ]);
}

export const keysCommand: GroupCommand = {
  summary: "Customer API keys",
  subcommands: {
    create: {
      summary: "Create an API key for an account (the key is printed once)",
      args: ["<account-id>"],
      options: {
        name: { type: "string", value: "<name>", describe: "a label for the key" },
        models: { type: "string", value: "<a,b>", describe: "comma-separated model ids the key may use (default: all)" },
        expires: { type: "string", value: "<time>", describe: "expiry: unix seconds or ISO 8601 (2030-01-31T00:00:00Z)" },
        "spend-cap": { type: "string", value: "<usd>", describe: "most the key may ever spend, in USD" },
      },
      examples: [
        "tollgate keys create acc_123 --name ci --models grok-4,grok-3 --spend-cap 50",
        "KEY=$(tollgate keys create acc_123 --json | jq -r .key)",
      ],
      async run(ctx, parsed) {
        const [accountId] = positionals(parsed, this, "keys create");
        const o = parsed.options;
        let models: string[] | undefined;
        if (o.models !== undefined) {
          models = String(o.models).split(",").map((m) => m.trim()).filter(Boolean);
          if (models.length === 0) throw new UsageError("--models: list at least one model id");
        }
        let cap: number | undefined;
        if (o["spend-cap"] !== undefined) {
          cap = parseUsd(String(o["spend-cap"]), "--spend-cap");
          if (cap <= 0) throw new UsageError("--spend-cap: must be greater than zero");
        }
        const input = validate(
          CreateKeyBody,
          {
            name: o.name,
            models,
            expires_at: o.expires === undefined ? undefined : parseExpires(String(o.expires)),
            spend_cap_micros: cap,
          },
          (f) => ({ expires_at: "--expires", spend_cap_micros: "--spend-cap" })[f] ?? `--${f.split(".")[0]}`,
        );
        const { row, key } = await createKey(await ctx.db(), ctx.config().key_prefix, accountId!, input, CLI_ACTOR, Date.now(), null, ctx.config().models.map((m) => m.id));
        printCreated(ctx, keyView(row), key, `created key ${row.id} for account ${row.accountId}`);
      },
    },
    list: {
      summary: "An account's keys, newest first (never the key itself)",
      args: ["<account-id>"],
      examples: ["tollgate keys list acc_123"],
      async run(ctx, parsed) {
        const [accountId] = positionals(parsed, this, "keys list");
        await getAccountRow(await ctx.db(), accountId!);
        const data = (await listKeys(await ctx.db(), accountId!)).map((k) => keyView(k));
        ctx.print({ object: "list", data }, () =>
          data.length === 0
            ? `no keys for ${accountId}`
            : table(data, [
                ["id", (k) => k.id],
                ["name", (k) => k.name || "-"],
                ["display", (k) => k.display],
                ["status", (k) => k.status],
                ["models", (k) => (k.models ? k.models.join(",") : "all")],
                ["expires", (k) => sec(k.expires_at)],
                ["spent_usd", (k) => microsToUsd(k.spent_micros)],
                ["last_used", (k) => sec(k.last_used_at)],
              ]),
        );
      },
    },
    show: {
      summary: "One API key",
      args: ["<key-id>"],
      async run(ctx, parsed) {
        const [id] = positionals(parsed, this, "keys show");
        const k = keyView(await getKeyRow(await ctx.db(), id!));
        ctx.print(k, () => keyLines(k));
      },
    },
    rotate: {
      summary: "Issue a replacement key with the same settings; the old key stops after the grace period",
      args: ["<key-id>"],
      options: {
        grace: { type: "string", value: "<seconds>", describe: "how long the old key stays valid (default 0: revoked at once)" },
      },
      examples: ["tollgate keys rotate key_123 --grace 3600"],
      async run(ctx, parsed) {
        const [id] = positionals(parsed, this, "keys rotate");
        const grace = parsed.options.grace;
        const { grace_seconds } = validate(
          RotateKeyBody,
          { grace_seconds: grace === undefined ? undefined : /^-?\d+$/.test(String(grace)) ? Number(grace) : grace },
          () => "--grace",
        );
        const { row, key } = await rotateKey(await ctx.db(), id!, grace_seconds, CLI_ACTOR);
        const old = grace_seconds === 0 ? "revoked now" : `valid for ${grace_seconds} more second(s)`;
        printCreated(ctx, keyView(row), key, `rotated ${id} (${old}); new key ${row.id}`);
      },
    },
    update: keysUpdateCommand,
    revoke: {
      summary: "Revoke a key (takes effect on the next request)",
      args: ["<key-id>"],
      examples: ["tollgate keys revoke key_123"],
      async run(ctx, parsed) {
        const [id] = positionals(parsed, this, "keys revoke");
        const k = keyView(await revokeKey(await ctx.db(), id!, CLI_ACTOR));
        ctx.print(k, () => [`revoked ${k.id}`, ...keyLines(k)]);
      },
    },
  },
};
