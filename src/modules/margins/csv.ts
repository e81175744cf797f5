import { csvLines } from "../../lib/csv";
import { microsToUsd } from "../../money/units";
import type { LossRowT, MarginsReportT } from "./model";

const usd = (micros: number) => microsToUsd(micros);

/** A margins report as CSV: one line per group, then the totals; money as exact decimal USD. */
export function marginsCsv(r: MarginsReportT): string {
  const header = [r.group_by, "label", "requests", "revenue_usd", "upstream_cost_usd", "margin_usd", "margin_percent",
    "known_cost_requests", "known_cost_revenue_usd", "unknown_cost_requests", "unknown_cost_revenue_usd", "loss_requests", "loss_usd"];
  const line = (group: string, label: string | null, s: MarginsReportT["totals"]) => [
    group, label, s.requests, usd(s.revenue_micros), usd(s.upstream_cost_micros), usd(s.margin_micros), s.margin_percent,
    s.known_cost_requests, usd(s.known_cost_revenue_micros), s.unknown_cost_requests, usd(s.unknown_cost_revenue_micros), s.loss_requests, usd(s.loss_micros),
  ];
  return csvLines(header, [...r.data.map((g) => line(g.group, g.label, g)), line("total", null, r.totals)]);
}

export function lossesCsv(rows: LossRowT[]): string {
  const header = ["created_at", "request_id", "account_id", "account_name", "key_id", "key_name", "model", "endpoint", "upstream", "status",
    "cost_usd", "upstream_cost_usd", "loss_usd", "overage_usd"];
  return csvLines(header, rows.map((l) => [
    new Date(l.created_at * 1000).toISOString(), l.request_id, l.account_id, l.account_name, l.key_id, l.key_name, l.model, l.endpoint,
    l.upstream, l.status, usd(l.cost_micros), usd(l.upstream_cost_micros), usd(l.loss_micros), usd(l.overage_micros),
  ]));
}

export const csvResponse = (body: string, name: string, day: string): Response =>
  new Response(body, {
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="tollgate-${name}-${day}.csv"`,
      "cache-control": "no-store",
    },
  });
