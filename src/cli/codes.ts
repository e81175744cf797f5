import { CreateCodesBody, ListCodesQuery } from "../modules/codes/model";
import { codeView, createCodes, listCodes } from "../modules/codes/service";
import { microsToUsd } from "../money/units";
import { UsageError } from "./args";
import { CLI_ACTOR, isoTime, positionals, table, validate, type GroupCommand } from "./command";
import { parseUsd } from "./credits";
import { parseExpires } from "./key-args";

export const codesCommand: GroupCommand = {
  summary: "Single-use credit codes",
  subcommands: {
    create: {
      summary: "Create a batch of single-use codes worth an amount each (printed once, one per line)",
      options: {
        count: { type: "string", value: "<n>", describe: "how many codes (1-1000)" },
        amount: { type: "string", value: "<usd>", describe: "what each code is worth, in USD" },
        note: { type: "string", value: "<text>", describe: "note stored with the batch" },
        expires: { type: "string", value: "<date>", describe: "last day the codes can be redeemed (YYYY-MM-DD, UTC) or an ISO time" },
      },
      examples: ["tollgate codes create --count 50 --amount 10 --note 'meetup'", "tollgate codes create --count 1 --amount 25 --json"],
      async run(ctx, parsed) {
        positionals(parsed, this, "codes create");
        const o = parsed.options;
        if (o.count === undefined) throw new UsageError("codes create: --count is required");
        if (!/^\d+$/.test(String(o.count))) throw new UsageError(`codes create: --count: expected a whole number from 1 to 1000, got ${JSON.stringify(o.count)}`);
        if (o.amount === undefined) throw new UsageError("codes create: --amount is required");
        const expires = o.expires === undefined ? undefined : parseExpiry(String(o.expires));
        const input = validate(
          CreateCodesBody,
          { count: Number(o.count), amount_micros: parseUsd(String(o.amount), "--amount"), note: o.note, expires_at: expires },
          (f) => (f === "amount_micros" ? "--amount" : f === "expires_at" ? "--expires" : `--${f}`),
        );
        const batch = await createCodes(await ctx.db(), input, CLI_ACTOR);
        // The codes alone on stdout, so that `> codes.txt` is a file of codes; the summary on stderr.
        ctx.print(batch, () => batch.codes.map((c) => c.code));
        if (!ctx.json) {
          ctx.stderr(
            `# ${batch.count} code(s) worth ${microsToUsd(batch.amount_micros)} USD each, batch ${batch.batch}` +
              (batch.expires_at ? `, valid until ${isoTime(batch.expires_at * 1000)}` : ""),
          );
        }
      },
    },
    list: {
      summary: "List codes (never the code itself), newest first",
      options: {
        batch: { type: "string", value: "<batch>", describe: "only this batch" },
        status: { type: "string", value: "<status>", describe: "available, redeemed or expired" },
        limit: { type: "string", value: "<n>", describe: "at most n codes (default 100)" },
      },
      examples: ["tollgate codes list --status redeemed", "tollgate codes list --batch batch_abc --json"],
      async run(ctx, parsed) {
        positionals(parsed, this, "codes list");
        const o = parsed.options;
        const q = validate(ListCodesQuery, { batch: o.batch, status: o.status, limit: o.limit }, (f) => `--${f}`);
        const data = (await listCodes(await ctx.db(), q)).map((c) => codeView(c));
        ctx.print({ object: "list", data }, () =>
          data.length === 0
            ? "no codes"
            : table(data, [
                ["code", (c) => c.display],
                ["batch", (c) => c.batch],
                ["usd", (c) => c.amount_usd],
                ["status", (c) => c.status],
                ["redeemed by", (c) => c.redeemed_by ?? "-"],
                ["created", (c) => isoTime(c.created_at * 1000)],
              ]),
        );
      },
    },
  },
};

/**
 * A date means "through the end of that UTC day"; an ISO time or unix seconds are taken as is
 * (read as `keys create --expires` reads them). Unix seconds out.
 */
function parseExpiry(v: string, now = Date.now()): number {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : Number.NaN;
  // Date.parse rolls 2030-02-30 over to March: a day that is not in the calendar is refused.
  if (!Number.isNaN(day) && new Date(day).toISOString().startsWith(v)) {
    if (day + 86_400_000 <= now) throw new UsageError(`--expires: must be today or later (got ${v})`);
    return day / 1000 + 86_400;
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) throw new UsageError(`--expires: not a day of the calendar: ${JSON.stringify(v)}`);
  const seconds = parseExpires(v, now);
  return typeof seconds === "number" ? seconds : Math.floor(Date.parse(seconds) / 1000);
}
