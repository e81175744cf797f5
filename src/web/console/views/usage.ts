import { html, type Html } from "../../html";
import { int, money } from "../../format";
import { empty, pageHead } from "../../layout";
import type { DailyUsageT, UsageRowT } from "../../../modules/usage/model";
import { pager, totalsCards, usageFilterForm, usageTable, type FilterField, type FilterOption, type Totals } from "../../portal/views/usage";
import type { AccountUsage } from "../service";

export function consoleUsageView(o: {
  values: Record<string, string>;
  /** The Account filter (a select, or a text field past the cap). */
  account: FilterField;
  models: FilterOption[];
  totals: Totals;
  byAccount: AccountUsage[];
  daily: DailyUsageT[];
  rows: UsageRowT[];
  next: string | null;
  query: URLSearchParams;
  names: Map<string, string>;
  /** Key names (or masked keys) by id. */
  keys: Map<string, string>;
}): Html {
  const days = new Map<string, { requests: number; tokens: number; cost: number }>();
  for (const d of o.daily) {
    const t = days.get(d.day) ?? { requests: 0, tokens: 0, cost: 0 };
    t.requests += d.requests;
    t.tokens += d.prompt_tokens + d.completion_tokens;
    t.cost += d.cost_micros;
    days.set(d.day, t);
  }
  const acct = (id: string) => html`<a href="/console/accounts/${id}">${o.names.get(id) ?? id}</a>`;
  return html`${pageHead("Usage", "Requests, tokens and spend across all accounts. Times are UTC.")}
${usageFilterForm({
    action: "/console/usage",
    values: o.values,
    selects: [
      o.account,
      { name: "model", label: "Model", options: o.models, all: "All models" },
    ],
  })}
${totalsCards(o.totals)}
<div class="grid-2">
  <section class="card" aria-labelledby="acc-title"><h2 id="acc-title">By account</h2>
    ${o.byAccount.length === 0 ? empty("No usage", html`<p>No requests in this range.</p>`) : html`<div class="table-wrap"><table class="data">
    <thead><tr><th scope="col">Account</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Spend</th></tr></thead>
    <tbody>${o.byAccount.map((a) => html`<tr><td>${acct(a.accountId)}</td><td class="num">${int(a.requests)}</td><td class="num">${int(a.tokens)}</td><td class="num">${money(a.costMicros)}</td></tr>`)}</tbody>
    <tfoot><tr><td>Total</td><td class="num">${int(o.totals.requests)}</td><td class="num">${int(o.totals.prompt_tokens + o.totals.completion_tokens)}</td><td class="num">${money(o.totals.cost_micros)}</td></tr></tfoot></table></div>`}
  </section>
  <section class="card" aria-labelledby="day-title"><h2 id="day-title">By day</h2>
    ${days.size === 0 ? empty("No usage", html`<p>No requests in this range.</p>`) : html`<div class="table-wrap"><table class="data">
    <thead><tr><th scope="col">Day</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Spend</th></tr></thead>
    <tbody>${[...days].slice(0, 31).map(([d, t]) => html`<tr><td>${d}</td><td class="num">${int(t.requests)}</td><td class="num">${int(t.tokens)}</td><td class="num">${money(t.cost)}</td></tr>`)}</tbody></table></div>`}
  </section>
</div>
<section class="card" aria-labelledby="req-title"><h2 id="req-title">Requests</h2>
  ${usageTable(o.rows, { keyName: (id) => (id ? html`<span title="${id}">${o.keys.get(id) ?? id}</span>` : "—"), account: acct })}
  ${o.rows.length > 0 && pager(o.next, o.query, "/console/usage", o.rows.length)}
</section>`;
}
