import { lossesCsv, marginsCsv } from "../modules/margins/csv";
import type { LossRowT, MarginsReportT, MarginSumsT } from "../modules/margins/model";
import { losses } from "../modules/margins/losses";
import { margins } from "../modules/margins/service";
import { checkNamed } from "../modules/usage/named";
import { microsToUsd } from "../money/units";
import { UsageError, wholeNumber } from "./args";
import { isoTime, pairs, positionals, table, type CliContext, type LeafCommand } from "./command";
import { cliFilter, FILTER_OPTIONS, outputMode, printCsv } from "./period";

const percent = (s: MarginSumsT) => (s.margin_percent === null ? "-" : `${s.margin_percent}%`);
const unknown = (s: MarginSumsT) => (s.unknown_cost_requests ? `${s.unknown_cost_requests} (${microsToUsd(s.unknown_cost_revenue_micros)} USD)` : "0");

function reportLines(r: MarginsReportT): string[] {
  const t = r.totals;
  const period = `${r.from === null ? "the oldest row" : isoTime(r.from * 1000)} to ${r.to === null ? "now" : isoTime(r.to * 1000)}`;
  const summary = pairs([
    ["period", period],
    ["requests", String(t.requests)],
    ["revenue", `${microsToUsd(t.revenue_micros)} USD`],
    ["upstream cost", `${microsToUsd(t.upstream_cost_micros)} USD (${t.known_cost_requests} request(s) with a known cost)`],
    ["unknown cost", `${unknown(t)}: not counted in the margin`],
    ["margin", `${microsToUsd(t.margin_micros)} USD (${percent(t)})`],
    ["losses", `${t.loss_requests} request(s), ${microsToUsd(t.loss_micros)} USD`],
  ]);
  if (r.data.length === 0) return [...summary, "", "no usage in this period"];
  return [
    ...summary,
    "",
    ...table(r.data, [
      [r.group_by, (g) => g.group || "(no key)"],
      ...(r.group_by === "account" || r.group_by === "key" ? [["name", (g: MarginsReportT["data"][number]) => g.label ?? "-"] as [string, (g: MarginsReportT["data"][number]) => string]] : []),
      ["requests", (g) => String(g.requests)],
      ["revenue_usd", (g) => microsToUsd(g.revenue_micros)],
      ["upstream_usd", (g) => microsToUsd(g.upstream_cost_micros)],
      ["margin_usd", (g) => microsToUsd(g.margin_micros)],
      ["margin", percent],
      ["unknown_cost", unknown],
      ["losses", (g) => String(g.loss_requests)],
    ]),
  ];
}

function lossLines(rows: LossRowT[], more: boolean): string[] {
  if (rows.length === 0) return ["no request in this period was charged less than its upstream cost"];
  return [
    ...table(rows, [
      ["time", (l) => isoTime(l.created_at * 1000)],
      ["request", (l) => l.request_id],
      ["account", (l) => l.account_name ?? l.account_id],
      ["key", (l) => l.key_name || l.key_id || "-"],
      ["model", (l) => l.model],
      ["charged_usd", (l) => microsToUsd(l.cost_micros)],
      ["upstream_usd", (l) => microsToUsd(l.upstream_cost_micros)],
      ["loss_usd", (l) => microsToUsd(l.loss_micros)],
      ["overage_usd", (l) => microsToUsd(l.overage_micros)],
    ]),
    ...(more ? ["(more: raise --limit)"] : []),
  ];
}

async function printLosses(ctx: CliContext, query: ReturnType<typeof cliFilter>["query"], limitText: unknown, mode: "json" | "csv" | "text") {
  const limit = limitText === undefined ? 100 : wholeNumber(limitText, "--limit", 1, 100_000);
  const { rows, nextCursor } = await losses(await ctx.db(), { ...query, limit });
  if (mode === "csv") return printCsv(ctx, lossesCsv(rows));
  ctx.print({ object: "list", data: rows, has_more: nextCursor !== null, next_cursor: nextCursor }, () => lossLines(rows, nextCursor !== null));
}

/** `tollgate margins`: what GET /admin/margins and /admin/margins/losses answer, on the database. */
export const marginsCommand: LeafCommand = {
  summary: "Revenue, upstream cost and margin by day, model, account or key; --losses lists requests that lost money",
  options: {
    ...FILTER_OPTIONS,
    key: { type: "string", value: "<key-id>", describe: "only this key id, not its rotation line (as key_id of GET /admin/margins; --group-by key splits a line by key)" },
    "group-by": { type: "string", value: "<day|model|account|key>", describe: "one line per (default: day)" },
    losses: { type: "boolean", describe: "list the requests charged less than their upstream cost, newest first" },
    limit: { type: "string", value: "<n>", describe: "with --losses: at most n requests (default 100)" },
  },
  examples: [
    "tollgate margins --from 2026-01-01 --to 2026-01-31 --group-by model",
    "tollgate margins --group-by account --csv > margins.csv",
    "tollgate margins --losses --from 2026-01-01 --json",
  ],
  async run(ctx, parsed) {
    positionals(parsed, this, "margins");
    const mode = outputMode(ctx, parsed);
    const o = parsed.options;
    if (!o.losses && o.limit !== undefined) throw new UsageError("--limit applies to --losses only");
    if (o.losses && o["group-by"] !== undefined) throw new UsageError("--group-by does not apply to --losses");
    const { query, filter } = cliFilter(parsed, { group_by: o["group-by"] });
    // An unknown --account or --key is an error (exit 1), not an empty report.
    await checkNamed(await ctx.db(), query.account_id, query.key_id);
    if (o.losses) return printLosses(ctx, query, o.limit, mode);
    const r = await margins(await ctx.db(), filter, query.group_by);
    if (mode === "csv") return printCsv(ctx, marginsCsv(r));
    ctx.print(r, () => reportLines(r));
  },
};
