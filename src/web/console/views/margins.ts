import { html, jsonScript, type Html } from "../../html";
import { dateTime, int, money, usd, cents, exactTitle } from "../../format";
import { empty, pageHead } from "../../layout";
import type { LossRowT, MarginGroupT, MarginsReportT, MarginSumsT } from "../../../modules/margins/model";
import { usageFilterForm, type FilterField, type FilterOption } from "../../portal/views/usage";

const GROUP_LABEL = { day: "Day", model: "Model", account: "Account", key: "Key" } as const;

const percent = (s: MarginSumsT) => (s.margin_percent === null ? html`<span class="muted">—</span>` : `${s.margin_percent.toFixed(2)} %`);

/** The margin, in red below zero. */
const marginCell = (micros: number) => (micros < 0 ? html`<span class="neg">${money(micros)}</span>` : money(micros));

function cards(t: MarginSumsT): Html {
  return html`<section class="grid" aria-label="Totals">
  <div class="stat"><div class="label">Revenue</div><div class="value"${exactTitle(t.revenue_micros)} data-testid="revenue">${cents(t.revenue_micros)}</div><div class="hint">${int(t.requests)} requests</div></div>
  <div class="stat"><div class="label">Upstream cost</div><div class="value"${exactTitle(t.upstream_cost_micros)} data-testid="upstream-cost">${cents(t.upstream_cost_micros)}</div><div class="hint">${int(t.known_cost_requests)} requests with a known cost</div></div>
  <div class="stat accent"><div class="label">Margin</div><div class="value" data-testid="margin">${marginCell(t.margin_micros)}</div><div class="hint" data-testid="margin-percent">${percent(t)} of known-cost revenue</div></div>
  <div class="stat"><div class="label">Unknown cost</div><div class="value" data-testid="unknown-cost">${int(t.unknown_cost_requests)}</div><div class="hint">requests, ${money(t.unknown_cost_revenue_micros)} of revenue left out of the margin</div></div>
  <div class="stat"><div class="label">Losses</div><div class="value" data-testid="losses">${int(t.loss_requests)}</div><div class="hint">requests below cost, ${money(t.loss_micros)} lost</div></div>
</section>`;
}

function groupCell(r: MarginsReportT, g: MarginGroupT): Html | string {
  if (r.group_by === "account") return html`<a href="/console/accounts/${g.group}">${g.label ?? g.group}</a>`;
  if (r.group_by === "key") return g.group ? html`${g.label ?? ""} <code class="muted">${g.group}</code>` : html`<span class="muted">No key</span>`;
  return g.group;
}

function groupsTable(r: MarginsReportT): Html {
  if (r.data.length === 0) return empty("No usage", html`<p>No requests in this period.</p>`);
  const num = (v: Html | string) => html`<td class="num">${v}</td>`;
  return html`<div class="table-wrap"><table class="data" aria-label="Margins by ${r.group_by}">
  <thead><tr><th scope="col">${GROUP_LABEL[r.group_by]}</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Revenue</th>
    <th scope="col" class="num">Upstream cost</th><th scope="col" class="num">Margin</th><th scope="col" class="num">Margin %</th>
    <th scope="col" class="num">Unknown cost</th><th scope="col" class="num">Losses</th></tr></thead>
  <tbody>${r.data.map((g) => html`<tr><td>${groupCell(r, g)}</td>${num(int(g.requests))}${num(money(g.revenue_micros))}${num(money(g.upstream_cost_micros))}
    ${num(marginCell(g.margin_micros))}${num(percent(g))}${num(g.unknown_cost_requests ? html`${int(g.unknown_cost_requests)} <span class="muted">(${money(g.unknown_cost_revenue_micros)})</span>` : "0")}
    ${num(g.loss_requests ? html`${int(g.loss_requests)} <span class="muted">(${money(g.loss_micros)})</span>` : "0")}</tr>`)}</tbody>
  <tfoot><tr><td>Total</td>${num(int(r.totals.requests))}${num(money(r.totals.revenue_micros))}${num(money(r.totals.upstream_cost_micros))}
    ${num(marginCell(r.totals.margin_micros))}${num(percent(r.totals))}${num(int(r.totals.unknown_cost_requests))}${num(int(r.totals.loss_requests))}</tr></tfoot>
</table></div>`;
}

/** Each request that lost money, to the micro (a detail, not a summary). */
function lossesTable(rows: LossRowT[], more: string | null): Html {
  if (rows.length === 0) return empty("No losses", html`<p>No request in this period was charged less than its upstream cost.</p>`);
  return html`<div class="table-wrap"><table class="data" aria-label="Requests that lost money">
  <thead><tr><th scope="col">Time (UTC)</th><th scope="col">Account</th><th scope="col">Key</th><th scope="col">Model</th>
    <th scope="col" class="num">Charged</th><th scope="col" class="num">Upstream cost</th><th scope="col" class="num">Loss</th><th scope="col" class="num">Overage</th></tr></thead>
  <tbody>${rows.map((l) => html`<tr><td class="nowrap" title="${l.request_id}">${dateTime(l.created_at * 1000)}</td>
    <td><a href="/console/accounts/${l.account_id}">${l.account_name ?? l.account_id}</a></td><td>${l.key_name || l.key_id || "—"}</td><td>${l.model}</td>
    <td class="num">${usd(l.cost_micros)}</td><td class="num">${usd(l.upstream_cost_micros)}</td><td class="num neg">${usd(l.loss_micros)}</td>
    <td class="num">${l.overage_micros ? usd(l.overage_micros) : "—"}</td></tr>`)}</tbody>
</table></div>${more && html`<div class="pager"><span class="muted">Newest first</span><a class="btn small" href="${more}">Older →</a></div>`}`;
}

export function marginsView(o: {
  values: Record<string, string>;
  /** The Account and Key filters (selects, or text fields past the cap). */
  account: FilterField;
  models: FilterOption[];
  key: FilterField;
  report: MarginsReportT;
  chart: { days: number[]; revenue: number[]; cost: number[]; margin: number[] } | null;
  losses: LossRowT[];
  moreLosses: string | null;
  csv: string;
}): Html {
  const r = o.report;
  const groups: FilterOption[] = (["day", "model", "account", "key"] as const).map((g) => ({ value: g, label: GROUP_LABEL[g] }));
  return html`${pageHead("Margins", "Revenue (what customers paid) against upstream cost (what the upstream billed). Times are UTC; requests whose upstream cost is unknown are counted apart, never as free.")}
${usageFilterForm({
    action: "/console/margins",
    values: o.values,
    selects: [
      { name: "group", label: "Group by", options: groups.slice(1), all: "Day" },
      o.account,
      { name: "model", label: "Model", options: o.models, all: "All models" },
      o.key,
    ],
    csv: o.csv,
  })}
${cards(r.totals)}
<section class="card" aria-labelledby="chart-title">
  <div class="card-head"><h2 id="chart-title">Revenue, upstream cost and margin per day</h2><span class="legend-note">UTC</span></div>
  ${o.chart
    ? html`<div id="margins-chart" class="chart" role="img" aria-label="Bar chart of revenue, lines of upstream cost and margin per day"></div>${jsonScript("margins-data", o.chart)}`
    : empty("No usage", html`<p>No requests in this period.</p>`)}
</section>
<section class="card" aria-labelledby="groups-title"><h2 id="groups-title">By ${GROUP_LABEL[r.group_by].toLowerCase()}</h2>${groupsTable(r)}</section>
<section class="card" aria-labelledby="losses-title"><h2 id="losses-title">Requests that lost money</h2>
  <p class="muted">Charged less than the upstream billed: an overage beyond the hold, or a list price below the upstream's.</p>
  ${lossesTable(o.losses, o.moreLosses)}
</section>`;
}
