import { ApiError } from "../lib/errors";
import { MarginsQuery } from "../modules/margins/model";
import { marginFilter, type MarginFilter } from "../modules/margins/service";
import { UsageError } from "./args";
import { validate, type CliContext } from "./command";
import type { OptionSpecs, Parsed } from "./args";

/** The filter flags `usage` and `margins` share. */
export const FILTER_OPTIONS: OptionSpecs = {
  from: { type: "string", value: "<time>", describe: "from this date (YYYY-MM-DD, UTC), ISO time or unix seconds, inclusive" },
  to: { type: "string", value: "<time>", describe: "until this time (exclusive; a date: through the end of that day)" },
  account: { type: "string", value: "<account-id>", describe: "only this account" },
  key: { type: "string", value: "<key-id>", describe: "only this key" },
  model: { type: "string", value: "<model>", describe: "only this model" },
  csv: { type: "boolean", describe: "print CSV instead of a table (money as exact decimal USD)" },
};

/** The period and filters of the command line, as the admin API reads them (bad values: exit 2). */
export function cliFilter(parsed: Parsed, extra: Record<string, unknown> = {}) {
  const o = parsed.options;
  const q = validate(
    MarginsQuery,
    { from: o.from, to: o.to, account_id: o.account, key_id: o.key, model: o.model, ...extra },
    (f) => `--${{ account_id: "account", key_id: "key", group_by: "group-by" }[f] ?? f}`,
  );
  try {
    return { query: q, filter: marginFilter(q) as MarginFilter };
  } catch (e) {
    if (e instanceof ApiError) throw new UsageError(`--${e.param ?? "to"}: ${e.message}`);
    throw e;
  }
}

/** --json and --csv are two different documents. */
export function outputMode(ctx: CliContext, parsed: Parsed): "json" | "csv" | "text" {
  if (parsed.options.csv && ctx.json) throw new UsageError("choose one of --json and --csv");
  return ctx.json ? "json" : parsed.options.csv ? "csv" : "text";
}

/** CSV with Unix line ends (a pipe or file on the operator's machine), the last one added by stdout. */
export const printCsv = (ctx: CliContext, csv: string) => ctx.stdout(csv.replace(/\r\n/g, "\n").replace(/\n$/, ""));
