import type { Config, Model } from "../../../config/load";
import { html, type Html } from "../../html";
import { date, dateTime, int, usd } from "../../format";
import { csrfField, empty, pageHead } from "../../layout";
import type { CodeViewT } from "../../../modules/codes/model";
import type { ModelTraffic, ProbeResult } from "../service";
import type { UpstreamListT } from "../../../modules/upstreams/model";
import { batchesCard, codesHref, type BatchList } from "./code-batches";
import { nthId } from "../../portal/views/keys";

type NewCodes = { codes: string[]; amount: number };

/** One new batch's codes (the `i`th shown on the page), to copy now. */
function newCodesBox(b: NewCodes, i: number): Html {
  const id = nthId("new-codes", i);
  return html`<section class="secret" aria-labelledby="${id}-title" role="status">
  <h2 id="${id}-title">${b.codes.length} new code${b.codes.length === 1 ? "" : "s"} worth ${usd(b.amount)} each</h2>
  <p>Copy them now: they are stored hashed and will not be shown again.</p>
  <div class="row"><textarea id="${id}" readonly rows="${Math.min(12, b.codes.length + 1)}" aria-label="New codes">${b.codes.join("\n")}</textarea>
  <button class="btn primary" type="button" data-copy="#${id}">Copy</button></div>
</section>`;
}

export function codesView(o: {
  csrf: string;
  list: BatchList;
  codes: CodeViewT[] | null;
  batch: string;
  /** The batches made since the page was last shown, oldest first: their codes are shown only now. */
  created?: NewCodes[];
}): Html {
  return html`${pageHead("Credit codes", "Single-use codes worth a fixed amount; customers redeem them in the portal or the API.")}
${(o.created ?? []).map(newCodesBox)}
<section class="card" aria-labelledby="create-title">
  <h2 id="create-title">Create a batch</h2>
  <form class="inline" method="post" action="/console/codes">
    ${csrfField(o.csrf)}
    <div class="field"><label for="k-count">How many</label><input id="k-count" name="count" type="number" min="1" max="1000" value="10" required></div>
    <div class="field"><label for="k-amount">Worth (USD each)</label><input id="k-amount" name="amount_usd" inputmode="decimal" placeholder="10.00" required></div>
    <div class="field"><label for="k-note">Note</label><input id="k-note" name="note" maxlength="200" placeholder="e.g. conference promo"></div>
    <div class="field"><label for="k-exp">Expires (optional)</label><input id="k-exp" name="expires" type="date"></div>
    <button class="btn primary" type="submit">Create codes</button>
  </form>
</section>
${batchesCard(o.list)}
${o.codes && html`<section class="card" aria-labelledby="codes-list-title">
  <div class="card-head"><h2 id="codes-list-title">Codes in <span class="mono">${o.batch}</span></h2><a href="${codesHref(o.list)}">All batches</a></div>
  <div class="table-wrap"><table class="data"><thead><tr><th scope="col">Code</th><th scope="col">Status</th><th scope="col" class="num">Worth</th><th scope="col">Redeemed by</th><th scope="col">Redeemed</th></tr></thead>
  <tbody>${o.codes.map((c) => html`<tr><td><code>${c.display}</code></td><td><span class="badge ${c.status === "available" ? "ok" : c.status === "redeemed" ? "info" : "warn"}">${c.status}</span></td>
    <td class="num">${usd(c.amount_micros)}</td><td>${c.redeemed_by ? html`<a href="/console/accounts/${c.redeemed_by}">${c.redeemed_by}</a>` : "—"}</td><td>${c.redeemed_at ? dateTime(c.redeemed_at * 1000) : "—"}</td></tr>`)}</tbody></table></div>
</section>`}`;
}

const perMillion = (micros: number) => `${usd(micros)} / 1M`;

/** Token models: their three prices, context and output limit; image models: a price per image. */
const priceCells = (m: Model) =>
  m.kind === "image"
    ? html`<td class="num">${usd(m.image_price)} / image</td><td class="num">—</td><td class="num">—</td><td class="num">—</td><td class="num">—</td>`
    : html`<td class="num">${perMillion(m.input_price)}</td><td class="num">${perMillion(m.cached_input_price)}</td><td class="num">${perMillion(m.output_price)}</td>
    <td class="num">${int(m.context_window)}</td><td class="num">${int(m.max_output_tokens)}</td>`;

export function modelsView(config: Config): Html {
  return html`${pageHead("Models and prices", "The catalogue customers see at /v1/models. Prices are per million tokens (image models: per image).")}
<section class="card">
  ${config.models.length === 0 ? empty("No models configured", html`<p>Add <code>models</code> to the configuration file.</p>`) : html`<div class="table-wrap"><table class="data">
  <thead><tr><th scope="col">Model</th><th scope="col">Provider</th><th scope="col">Upstream model</th><th scope="col" class="num">Input</th><th scope="col" class="num">Cached input</th><th scope="col" class="num">Output</th><th scope="col" class="num">Context</th><th scope="col" class="num">Max output</th></tr></thead>
  <tbody>${config.models.map((m) => html`<tr><td><strong>${m.id}</strong></td><td>${m.provider}</td><td class="mono">${m.upstream_model}</td>
    ${priceCells(m)}</tr>`)}</tbody></table></div>`}
  <p class="muted">Models and prices come from the configuration (<code>models</code>); change them there and restart. Charges already made keep their price.</p>
</section>`;
}

export function healthView(o: { csrf: string; upstreams: UpstreamListT; hour: ModelTraffic[]; day: ModelTraffic[]; probe?: ProbeResult | null }): Html {
  const rate = (t: ModelTraffic) => (t.requests === 0 ? 0 : (100 * t.upstreamErrors) / t.requests);
  const badge = (t: ModelTraffic) => {
    const r = rate(t);
    return r === 0 ? html`<span class="badge ok">healthy</span>` : r < 5 ? html`<span class="badge warn">${r.toFixed(1)}% errors</span>` : html`<span class="badge danger">${r.toFixed(1)}% errors</span>`;
  };
  const table = (rows: ModelTraffic[], label: string) =>
    rows.length === 0 ? empty(`No traffic in the last ${label}`, html`<p>Nothing to judge from yet.</p>`) : html`<div class="table-wrap"><table class="data">
    <thead><tr><th scope="col">Model</th><th scope="col">Served by</th><th scope="col">State</th><th scope="col" class="num">Requests</th><th scope="col" class="num">Upstream errors</th><th scope="col" class="num">Client errors</th><th scope="col" class="num">Avg latency</th><th scope="col" class="num">Avg first token</th><th scope="col">Last upstream error</th></tr></thead>
    <tbody>${rows.map((t) => html`<tr><td>${t.model}</td><td>${t.provider}</td><td>${badge(t)}</td><td class="num">${int(t.requests)}</td><td class="num">${int(t.upstreamErrors)}</td><td class="num">${int(t.clientErrors)}</td>
      <td class="num">${int(t.avgLatencyMs)} ms</td><td class="num">${t.avgTtftMs === null ? "—" : `${int(t.avgTtftMs)} ms`}</td><td>${t.lastErrorAt ? html`${dateTime(t.lastErrorAt)} <code>${t.lastErrorCode ?? ""}</code>` : "—"}</td></tr>`)}</tbody></table></div>`;
  return html`${pageHead("Upstream health", "Upstream keys with their circuit breakers, and how each model behaved for real traffic.")}
${o.probe && html`<div class="flash ${o.probe.ok ? "ok" : "error"}" role="status"><strong>${o.probe.provider}</strong>: ${o.probe.message} ${o.probe.status !== null ? `HTTP ${o.probe.status}, ` : ""}${o.probe.ms} ms.</div>`}
<section class="card" aria-labelledby="prov-title">
  <div class="card-head"><h2 id="prov-title">Upstream keys</h2><span class="muted">${o.upstreams.in_flight} request${o.upstreams.in_flight === 1 ? "" : "s"} in flight · limit ${int(o.upstreams.max_concurrent_streams)}${o.upstreams.draining ? " · draining" : ""}</span></div>
  <div class="table-wrap"><table class="data"><thead><tr><th scope="col">Upstream</th><th scope="col">Base URL</th><th scope="col">Key</th><th scope="col">Breaker</th>
    <th scope="col" class="num">In flight</th><th scope="col" class="num">Recent errors</th><th scope="col">Last error</th><th scope="col">Last success</th><th scope="col"><span class="sr-only">Check</span></th></tr></thead>
  <tbody>${o.upstreams.data.map((u) => html`<tr><td><strong>${u.id}</strong> <span class="muted">${u.kind}</span></td><td class="mono">${u.base_url}</td>
    <td>${u.key_hint ? html`<code>${u.key_hint}</code>` : html`<span class="badge danger">missing</span>`}</td>
    <td>${u.state === "closed" ? html`<span class="badge ok">in use</span>` : u.state === "open" ? html`<span class="badge danger" title="${u.retry_at ? `probe at ${dateTime(u.retry_at * 1000)} UTC` : ""}">open</span>` : html`<span class="badge warn">probing</span>`}</td>
    <td class="num">${int(u.in_flight)}</td>
    <td class="num">${int(u.recent.failures)} / ${int(u.recent.requests)}<div class="muted">last ${Math.round(u.recent.window_seconds / 60)} min</div></td>
    <td>${u.last_error ? html`${u.last_error_at ? dateTime(u.last_error_at * 1000) : ""} <div class="muted">${u.last_error}</div>` : "—"}</td>
    <td class="nowrap">${u.last_success_at ? dateTime(u.last_success_at * 1000) : "—"}</td>
    <td><form class="actions" method="post" action="/console/health/probe">${csrfField(o.csrf)}<input type="hidden" name="upstream" value="${u.id}"><button class="btn small" type="submit">Check now</button></form></td></tr>`)}</tbody></table></div>
  <p class="muted">Live state of this process since it started. “Check now” asks the provider for its model list with its key.</p>
</section>
<section class="card" aria-labelledby="hour-title"><h2 id="hour-title">Last hour</h2>${table(o.hour, "hour")}</section>
<section class="card" aria-labelledby="day-title"><h2 id="day-title">Last 24 hours</h2>${table(o.day, "24 hours")}</section>`;
}

export interface AuditRowView {
  id: number;
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  before: unknown;
  after: unknown;
  createdAt: number;
}

function compactJson(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = JSON.stringify(v);
  return s.length > 220 ? `${s.slice(0, 220)}…` : s;
}

export function auditView(o: { rows: AuditRowView[]; target: string; next: number | null }): Html {
  const link = (t: string, id: string) => (t === "account" ? html`<a href="/console/accounts/${id}" class="mono">${id}</a>` : html`<span class="mono">${id}</span>`);
  return html`${pageHead("Audit log", "Every change to accounts, keys, credits, codes and settings, newest first.")}
<form class="inline card" method="get" action="/console/audit" role="search">
  <div class="field"><label for="target">Target id</label><input id="target" name="target" value="${o.target}" placeholder="acc_…, key_…, batch_…"></div>
  <button class="btn" type="submit">Filter</button>${o.target && html` <a class="btn" href="/console/audit">Clear</a>`}
</form>
<section class="card">
  ${o.rows.length === 0 ? empty("No entries", html`<p>Changes appear here as they happen.</p>`) : html`<div class="table-wrap"><table class="data">
  <thead><tr><th scope="col">When (UTC)</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Target</th><th scope="col">Change</th></tr></thead>
  <tbody>${o.rows.map((r) => html`<tr><td class="nowrap">${dateTime(r.createdAt)}</td><td>${r.actor}</td><td><span class="badge">${r.action}</span></td>
    <td>${r.targetType} ${link(r.targetType, r.targetId)}</td>
    <td class="mono">${r.before != null && html`<div class="muted">− ${compactJson(r.before)}</div>`}${r.after != null && html`<div>+ ${compactJson(r.after)}</div>`}</td></tr>`)}</tbody></table></div>`}
  ${o.next && html`<div class="pager"><span></span><a class="btn small" href="/console/audit?${new URLSearchParams({ ...(o.target ? { target: o.target } : {}), before: String(o.next) }).toString()}">Older →</a></div>`}
</section>`;
}
