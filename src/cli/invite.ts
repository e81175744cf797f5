import { InviteBody } from "../identity/logins/model";
import { createInvite } from "../identity/logins/service";
import type { Config } from "../config/load";
import { CLI_ACTOR, isoTime, pairs, positionals, validate, type LeafCommand } from "./command";

/** Where customers reach the dashboard: public_url, else this machine's listen address. */
export function dashboardBase(config: Config): string {
  if (config.public_url) return config.public_url;
  const host = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${config.port}`;
}

/** `tollgate accounts invite <account-id>`: a one-time link to set (or reset) the dashboard password. */
export const inviteCommand: LeafCommand = {
  summary: "Create a one-time invite link with which the customer sets a dashboard password (also resets a forgotten one)",
  args: ["<account-id>"],
  options: {
    email: { type: "string", value: "<email>", describe: "the sign-in email, the only one the link accepts (default: the account's email)" },
  },
  examples: ["tollgate accounts invite acc_123", "tollgate accounts invite acc_123 --email ops@acme.test --json"],
  async run(ctx, parsed) {
    const [accountId] = positionals(parsed, this, "accounts invite");
    const body = validate(InviteBody, { email: parsed.options.email }, (f) => `--${f}`);
    const config = ctx.config();
    const invite = await createInvite(await ctx.db(), {
      accountId: accountId!,
      email: body.email,
      ttlMs: config.invite_ttl_hours * 3_600_000,
      actor: CLI_ACTOR,
      baseUrl: dashboardBase(config),
    });
    ctx.print(invite, () => [
      `invite link for ${invite.account_id} (shown once; send it to the customer):`,
      invite.url,
      ...pairs([
        ["email", invite.email ?? "-"],
        ["expires", isoTime(invite.expires_at * 1000)],
      ]),
    ]);
  },
};
