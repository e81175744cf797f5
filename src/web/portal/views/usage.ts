import { html, type Html } from "../../html";
import { dateTime, int, usd, cents, exactTitle } from "../../format";
import { empty, pageHead } from "../../layout";
import type { UsageRowT } from "../../../modules/usage/model";

export interface Totals {
  requests: number;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  cost_micros: number;
}

export interface FilterOption {
  value: string;
  label: string;
}

export function totalsCards(t: Totals): Html {
  return html`<section class="grid" aria-label="Totals">
  <div class="stat"><div class="label">Requests</div><div class="value" data-testid="total-requests">${int(t.requests)}</div></div>
  <div class="stat"><div class="label">Input tokens</div><div class="value">${int(t.prompt_tokens)}</div><div class="hint">${int(t.cached_tokens)} cached</div></div>
  <div class="stat"><div class="label">Output tokens</div><div class="value">${int(t.completion_tokens)}</div><div class="hint">${int(t.reasoning_tokens)} reasoning</div></div>
  <div class="stat accent"><div class="label">Spend</div><div class="value"${exactTitle(t.cost_micros)} data-testid="total-spend">${cents(t.cost_micros)}</div></div>
</section>`;
}

/** A filter of a usage form: a select, or (typed) a text field with its options as suggestions. */
export interface FilterField {
  name: string;
  label: string;
  options: FilterOption[];
  /** The option meaning "no filter". */
  all: string;
  typed?: boolean;
  /** What the chosen value names, shown under a typed field. */
  chosen?: string;
  /** Why the value names nothing (the filter still applies, and matches nothing). */
  problem?: string | null;
}

function select(f: FilterField, value: string): Html {
  // A value not among the options is kept, never dropped in favour of "all" by the next Apply.
  const options = value && !f.options.some((o) => o.value === value) ? [{ value, label: value }, ...f.options] : f.options;
  return html`<div class="field"><label for="f-${f.name}">${f.label}</label><select id="f-${f.name}" name="${f.name}">
  <option value="">${f.all}</option>${options.map((o) => html`<option value="${o.value}"${o.value === value ? html` selected` : ""}>${o.label}</option>`)}
</select>${f.problem && html`<div class="error" role="alert">${f.problem}</div>`}</div>`;
}

/** Too many to list in a select: a name or an id, with the newest as suggestions. */
function typedField(f: FilterField, value: string): Html {
  const note = f.problem ? html`<div class="error" id="f-${f.name}-note" role="alert">${f.problem}</div>`
    : f.chosen && html`<div class="hint" id="f-${f.name}-note">${f.chosen}</div>`;
  return html`<div class="field typed"><label for="f-${f.name}">${f.label}</label>
  <input id="f-${f.name}" name="${f.name}" value="${value}" list="f-${f.name}-list" autocomplete="off" placeholder="${f.all}: type a name or id"${f.problem && html` aria-invalid="true"`}${note && html` aria-describedby="f-${f.name}-note"`}>
  <datalist id="f-${f.name}-list">${f.options.map((o) => html`<option value="${o.value}">${o.label}</option>`)}</datalist>${note}</div>`;
}

export function usageFilterForm(o: {
  action: string;
  values: Record<string, string>;
  selects: FilterField[];
  csv?: string;
}): Html {
  return html`<form class="inline card" method="get" action="${o.action}" aria-label="Filters">
  ${o.selects.map((s) => (s.typed ? typedField : select)(s, o.values[s.name] ?? ""))}
  <div class="field"><label for="f-from">From</label><input id="f-from" type="date" name="from" value="${o.values.from ?? ""}"></div>
  <div class="field"><label for="f-to">To</label><input id="f-to" type="date" name="to" value="${o.values.to ?? ""}"></div>
  <button class="btn primary" type="submit">Apply</button>
  <a class="btn" href="${o.action}">Reset</a>
  ${o.csv && html`<a class="btn" href="${o.csv}" download>Export CSV</a>`}
</form>`;
}

export function usageTable(rows: UsageRowT[], o: { keyName: (id: string | null) => string | Html; account?: (id: string) => Html }): Html {
  if (rows.length === 0) return empty("No requests match", html`<p>Change the filters, or make a request with one of your keys.</p>`);
  return html`<div class="table-wrap"><table class="data" aria-label="Requests">
  <thead><tr><th scope="col">Time (UTC)</th>${o.account && html`<th scope="col">Account</th>`}<th scope="col">Model</th><th scope="col">Key</th>
    <th scope="col" class="num">Input</th><th scope="col" class="num">Output</th><th scope="col" class="num">Cost</th>
    <th scope="col" class="num">Latency</th><th scope="col">Status</th></tr></thead>
  <tbody>${rows.map((r) => html`<tr>
    <td class="nowrap" title="${r.request_id}">${dateTime(r.created_at * 1000)}</td>
    ${o.account && html`<td>${o.account(r.account_id)}</td>`}
    <td>${r.model}${r.stream && html` <span class="badge">stream</span>`}${r.endpoint !== "chat.completions" && html`<div class="muted" data-testid="endpoint">${r.endpoint}</div>`}</td>
    <td>${o.keyName(r.key_id)}</td>
    <td class="num">${int(r.prompt_tokens)}${r.cached_tokens > 0 && html`<div class="muted">${int(r.cached_tokens)} cached</div>`}</td>
    <td class="num">${int(r.completion_tokens)}${r.reasoning_tokens > 0 && html`<div class="muted">${int(r.reasoning_tokens)} reasoning</div>`}</td>
    <td class="num">${usd(r.cost_micros)}${r.estimated && html` <span class="badge warn" title="The upstream reported no usage; this charge is an estimate">est.</span>`}</td>
    <td class="num">${int(r.latency_ms)} ms</td>
    <td>${r.status < 400 ? html`<span class="badge ok">${r.status}</span>` : html`<span class="badge danger" title="${r.error_code ?? ""}">${r.status}</span>`}</td>
  </tr>`)}</tbody>
</table></div>`;
}

export function pager(next: string | null, baseQuery: URLSearchParams, action: string, shown: number): Html {
  const q = new URLSearchParams(baseQuery);
  if (next) q.set("before", next);
  return html`<div class="pager"><span class="muted">${shown} request${shown === 1 ? "" : "s"} shown, newest first</span>
  <span>${baseQuery.has("before") && html`<a class="btn small" href="${action}?${withoutBefore(baseQuery)}">Newest</a> `}${next && html`<a class="btn small" href="${action}?${q.toString()}">Older →</a>`}</span></div>`;
}

function withoutBefore(q: URLSearchParams): string {
  const c = new URLSearchParams(q);
  c.delete("before");
  return c.toString();
}

export function portalUsageView(o: {
  values: Record<string, string>;
  models: FilterOption[];
  keys: FilterOption[];
  /** Owners and admins filter by member too. */
  members?: FilterOption[];
  totals: Totals;
  rows: UsageRowT[];
  next: string | null;
  query: URLSearchParams;
  keyName: (id: string | null) => string;
  /** Whether the account's usage (owners, admins) or only the member's own. */
  all: boolean;
}): Html {
  const csvQuery = new URLSearchParams(o.query);
  csvQuery.delete("before");
  const intro = o.all ? "Every request made with the account's keys, with tokens and cost. Times are UTC." : "Every request made with your keys, with tokens and cost. Times are UTC.";
  return html`${pageHead("Usage", intro)}
${usageFilterForm({
    action: "/portal/usage",
    values: o.values,
    selects: [
      { name: "model", label: "Model", options: o.models, all: "All models" },
      { name: "key", label: "Key", options: o.keys, all: "All keys" },
      ...(o.members ? [{ name: "member", label: "Member", options: o.members, all: "All members" }] : []),
    ],
    csv: `/portal/usage.csv?${csvQuery.toString()}`,
  })}
${totalsCards(o.totals)}
<section class="card" aria-labelledby="req-title">
  <h2 id="req-title">Requests</h2>
  ${usageTable(o.rows, { keyName: o.keyName })}
  ${o.rows.length > 0 && pager(o.next, o.query, "/portal/usage", o.rows.length)}
</section>`;
}
