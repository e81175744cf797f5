import { USAGE_CSV_COLUMNS, usageCsvLine } from "../modules/usage/csv";
import { byKeyLine } from "../modules/usage/key-line";
import { checkNamed } from "../modules/usage/named";
import { dailyUsage, listUsage, totalsOf, type UsageFilter } from "../modules/usage/service";
import { yieldToLoop } from "../modules/usage/slices";
import { microsToUsd } from "../money/units";
import { wholeNumber } from "./args";
import { isoTime, pairs, positionals, table, type CliContext, type LeafCommand } from "./command";
import { cliFilter, FILTER_OPTIONS, outputMode, printCsv } from "./period";

/** Every matching request as CSV, newest first, read a page at a time (at most `max`). */
async function printUsageCsv(ctx: CliContext, f: UsageFilter, max: number): Promise<void> {
  let cursor: string | undefined;
  let count = 0;
  ctx.stdout(USAGE_CSV_COLUMNS.join(","));
  do {
    const page = await listUsage(await ctx.db(), f, Math.min(1000, max - count), cursor);
    if (page.rows.length) printCsv(ctx, page.rows.map((r) => `${usageCsvLine(r, microsToUsd)}\r\n`).join(""));
    count += page.rows.length;
    cursor = page.nextCursor ?? undefined;
    await yieldToLoop();
  } while (cursor && count < max);
}

/** `tollgate usage`: what GET /admin/usage answers, for an account, a key or everyone. */
export const usageCommand: LeafCommand = {
  summary: "Usage of an account, a key or every account: totals, per day and model, and the latest requests",
  options: {
    ...FILTER_OPTIONS,
    key: { type: "string", value: "<key-id>", describe: "only this key's rotation line: the keys it replaced and those that replaced it (as key_id of GET /admin/usage)" },
    limit: { type: "string", value: "<n>", describe: "requests listed (default 20; with --csv every request, at most n, default 100000)" },
  },
  examples: [
    "tollgate usage --account acc_123 --from 2026-01-01",
    "tollgate usage --key key_123 --json",
    "tollgate usage --account acc_123 --csv > usage.csv",
  ],
  async run(ctx, parsed) {
    positionals(parsed, this, "usage");
    const mode = outputMode(ctx, parsed);
    const asked = cliFilter(parsed).filter;
    const o = parsed.options;
    const limit = o.limit === undefined ? (mode === "csv" ? 100_000 : 20) : wholeNumber(o.limit, "--limit", 1, 1_000_000);
    // An unknown --account or --key is an error (exit 1), not an empty report.
    await checkNamed(await ctx.db(), asked.accountId, asked.keyId);
    // --key names the key's rotation line, as key_id does on GET /admin/usage.
    const filter = await byKeyLine(await ctx.db(), asked);
    if (mode === "csv") return printUsageCsv(ctx, filter, limit);
    const { rows, nextCursor } = await listUsage(await ctx.db(), filter, Math.min(limit, 1000));
    const daily = await dailyUsage(await ctx.db(), filter);
    const totals = totalsOf(daily);
    const report = { object: "list", data: rows, has_more: nextCursor !== null, next_cursor: nextCursor, totals, daily };
    ctx.print(report, () => [
      ...pairs([
        ["requests", String(totals.requests)],
        ["tokens", `${totals.prompt_tokens} prompt (${totals.cached_tokens} cached), ${totals.completion_tokens} completion (${totals.reasoning_tokens} reasoning)`],
        ["cost", `${microsToUsd(totals.cost_micros)} USD`],
      ]),
      ...(daily.length ? ["", ...table(daily, [
        ["day", (d) => d.day], ["model", (d) => d.model], ["requests", (d) => String(d.requests)],
        ["prompt", (d) => String(d.prompt_tokens)], ["completion", (d) => String(d.completion_tokens)], ["cost_usd", (d) => microsToUsd(d.cost_micros)],
      ])] : []),
      ...(rows.length ? ["", "latest requests:", ...table(rows, [
        ["time", (r) => isoTime(r.created_at * 1000)], ["request", (r) => r.request_id], ["account", (r) => r.account_id],
        ["key", (r) => r.key_id ?? "-"], ["model", (r) => r.model], ["status", (r) => String(r.status)],
        ["tokens", (r) => String(r.prompt_tokens + r.completion_tokens)], ["cost_usd", (r) => microsToUsd(r.cost_micros)],
      ])] : ["", "no requests in this period"]),
    ]);
  },
};
