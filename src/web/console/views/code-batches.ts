import { html, type Html } from "../../html";
import { date, dateTime, int, usd } from "../../format";
import { empty } from "../../layout";

export interface BatchRow {
  batch: string;
  note: string | null;
  amountMicros: number;
  count: number;
  redeemed: number;
  expiresAt: number | null;
  createdAt: number;
}

/** A page of batches, newest first: the search `q`, this page's `before` and the next page's. */
export interface BatchList {
  rows: BatchRow[];
  q: string;
  before?: string;
  next: string | null;
}

/** The list's own query (search, page), kept by the links to a batch and back. */
const listQuery = (l: BatchList, before = l.before) => new URLSearchParams([...(l.q ? [["q", l.q]] : []), ...(before ? [["before", before]] : [])]);

/** Where a link from the list goes: `/console/codes?<the list's query>&batch=…` (the batch last). */
export function codesHref(l: BatchList, batch?: string): string {
  const q = listQuery(l);
  if (batch) q.set("batch", batch);
  return q.size ? `/console/codes?${q}` : "/console/codes";
}

function search(l: BatchList): Html {
  return html`<form class="inline" method="get" action="/console/codes" role="search">
    <div class="field"><label class="sr-only" for="batch-q">Search batches</label><input id="batch-q" name="q" type="search" value="${l.q}" placeholder="Batch id or note"></div>
    <button class="btn" type="submit">Search</button>${l.q && html` <a class="btn" href="/console/codes">Clear</a>`}
  </form>`;
}

function pager(l: BatchList): Html {
  if (!l.before && !l.next) return html``;
  return html`<div class="pager"><span class="muted">${l.rows.length} batch${l.rows.length === 1 ? "" : "es"} shown, newest first</span>
  <span>${l.before && html`<a class="btn small" href="${codesHref({ ...l, before: undefined })}">Newest</a> `}${l.next && html`<a class="btn small" href="/console/codes?${listQuery(l, l.next)}">Older →</a>`}</span></div>`;
}

/** The Batches card: search, one page of batches, and the way to older ones. */
export function batchesCard(l: BatchList): Html {
  const none = l.q ? empty("No matching batches", html`<p>Try another search.</p>`) : l.before ? empty("No older batches", html``) : empty("No codes yet", html`<p>Create a batch above.</p>`);
  return html`<section class="card" aria-labelledby="batches-title">
  <div class="card-head"><h2 id="batches-title">${l.q ? `Batches matching “${l.q}”` : "Batches"}</h2>${search(l)}</div>
  ${l.rows.length === 0 ? none : html`<div class="table-wrap"><table class="data" aria-label="Batches">
    <thead><tr><th scope="col">Batch</th><th scope="col">Note</th><th scope="col" class="num">Each</th><th scope="col" class="num">Redeemed</th><th scope="col">Expires</th><th scope="col">Created</th></tr></thead>
    <tbody>${l.rows.map((b) => html`<tr><td><a href="${codesHref(l, b.batch)}" class="mono">${b.batch}</a></td><td>${b.note ?? html`<span class="muted">—</span>`}</td>
      <td class="num">${usd(b.amountMicros)}</td><td class="num">${int(b.redeemed)} / ${int(b.count)}</td><td>${b.expiresAt ? date(b.expiresAt) : "Never"}</td><td class="nowrap">${dateTime(b.createdAt)}</td></tr>`)}</tbody></table></div>
  ${pager(l)}`}
</section>`;
}
