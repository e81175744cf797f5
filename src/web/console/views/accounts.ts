import { html, type Html } from "../../html";
import { date, dateTime, money, cents, exactTitle } from "../../format";
import { csrfField, empty, pageHead } from "../../layout";
import type { AccountViewT } from "../../../modules/accounts/model";
import type { KeyViewT } from "../../../modules/keys/model";
import type { LedgerRow } from "../../../money/ledger";
import { ledgerTable } from "../../portal/views/credits";
import { secretBox, statusBadge } from "../../portal/views/keys";
import type { InviteViewT } from "../../../identity/logins/model";
import { fieldError, invalidAttrs, typed, type Refused } from "../../refused";

const statusOf = (s: string) => html`<span class="badge ${s === "active" ? "ok" : "danger"}">${s}</span>`;

export function accountsView(o: { csrf: string; accounts: AccountViewT[]; q: string; plans: string[]; hasMore: boolean; offset: number; refused?: Refused }): Html {
  const more = new URLSearchParams({ ...(o.q ? { q: o.q } : {}), offset: String(o.offset + o.accounts.length) });
  return html`${pageHead("Accounts", "Customers, their credit and their status.")}
${newAccountForm(o.csrf, o.plans, o.refused)}
<section class="card" aria-labelledby="list-title">
  <div class="card-head"><h2 id="list-title">${o.q ? `Results for “${o.q}”` : "All accounts"}</h2>
    <form class="inline" method="get" action="/console/accounts" role="search">
      <div class="field"><label class="sr-only" for="q">Search by name, email or id</label><input id="q" name="q" type="search" value="${o.q}" placeholder="Search name, email or id"></div>
      <button class="btn" type="submit">Search</button>${o.q && html` <a class="btn" href="/console/accounts">Clear</a>`}
    </form></div>
  ${o.accounts.length === 0
    ? empty(o.q ? "No matching accounts" : "No accounts yet", html`<p>${o.q ? "Try another search." : "Create the first one above, then send an invite link."}</p>`)
    : html`<div class="table-wrap"><table class="data">
    <thead><tr><th scope="col">Account</th><th scope="col">Email</th><th scope="col">Plan</th><th scope="col">Status</th>
      <th scope="col" class="num">Balance</th><th scope="col" class="num">Available</th><th scope="col">Created</th></tr></thead>
    <tbody>${o.accounts.map((a) => html`<tr>
      <td><a href="/console/accounts/${a.id}">${a.name}</a><div class="muted mono">${a.id}</div></td>
      <td>${a.email ?? html`<span class="muted">—</span>`}</td><td>${a.plan}</td><td>${statusOf(a.status)}</td>
      <td class="num">${money(a.balance_micros)}</td><td class="num">${money(a.available_micros)}</td><td class="nowrap">${date(a.created_at * 1000)}</td>
    </tr>`)}</tbody></table></div>
    ${o.hasMore && html`<div class="pager"><span></span><a class="btn small" href="/console/accounts?${more.toString()}">More →</a></div>`}`}
</section>`;
}

/** The new-account form, with what was typed and the message next to its field when it was refused. */
function newAccountForm(csrf: string, plans: string[], r: Refused | undefined): Html {
  const input = (name: string, id: string, label: string, attrs: Html) => html`<div class="field"><label for="${id}">${label}</label>
      <input id="${id}" name="${name}" ${attrs} value="${typed(r, name)}"${invalidAttrs(r, name, id)}>${fieldError(r, name, id)}</div>`;
  const plan = typed(r, "plan");
  return html`<section class="card" aria-labelledby="new-title">
  <h2 id="new-title">New account</h2>
  <form class="inline" method="post" action="/console/accounts">
    ${csrfField(csrf)}
    ${input("name", "a-name", "Name", html`required maxlength="200"`)}
    ${input("email", "a-email", "Email (optional)", html`type="email"`)}
    <div class="field"><label for="a-plan">Plan</label><select id="a-plan" name="plan"${invalidAttrs(r, "plan", "a-plan")}>${plans.map((p) => html`<option${p === plan ? html` selected` : ""}>${p}</option>`)}</select>${fieldError(r, "plan", "a-plan")}</div>
    ${input("credit_usd", "a-credit", "Starting credit, USD (optional)", html`inputmode="decimal" placeholder="0.00"`)}
    <button class="btn primary" type="submit">Create account</button>
  </form>
</section>`;
}

export interface AccountDetail {
  csrf: string;
  account: AccountViewT;
  login: { email: string; lastLoginAt: number | null } | null;
  /** Portal members by role (the owner's invite is on this page; the others: CLI or admin API). */
  team: { admin: number; member: number };
  plans: string[];
  limits: { rpm: number; tpm: number; concurrency: number } | null;
  keys: KeyViewT[];
  ledger: LedgerRow[];
  usage30: { requests: number; tokens: number; cost: number };
  invite?: InviteViewT | null;
  idem: string;
}

export function accountView(o: AccountDetail): Html {
  const a = o.account;
  const suspended = a.status === "suspended";
  const n = (v: number) => (Number.isFinite(v) ? v.toLocaleString("en-US") : "unlimited");
  return html`${pageHead(a.name, html`<span class="mono">${a.id}</span> · ${statusOf(a.status)}`, html`<a class="btn" href="/console/accounts">← All accounts</a>`)}
${o.invite && secretBox("Invite link", `Send this one-time link to the customer${o.invite.email ? ` (${o.invite.email})` : ""}. It expires ${dateTime(o.invite.expires_at * 1000)} UTC and is shown only now.`, o.invite.url, "invite-url")}
<section class="grid" aria-label="Balance">
  <div class="stat accent"><div class="label">Available</div><div class="value"${exactTitle(a.available_micros)} data-testid="available">${cents(a.available_micros)}</div></div>
  <div class="stat"><div class="label">Balance</div><div class="value"${exactTitle(a.balance_micros)} data-testid="balance">${cents(a.balance_micros)}</div></div>
  <div class="stat"><div class="label">Held</div><div class="value"${exactTitle(a.held_micros)}>${cents(a.held_micros)}</div></div>
  <div class="stat"><div class="label">Spend, 30 days</div><div class="value"${exactTitle(o.usage30.cost)}>${cents(o.usage30.cost)}</div><div class="hint">${n(o.usage30.requests)} requests · ${n(o.usage30.tokens)} tokens</div></div>
</section>
<div class="grid-2">
  <section class="card" aria-labelledby="credit-title">
    <h2 id="credit-title">Top up or adjust</h2>
    <form class="stack" method="post" action="/console/accounts/${a.id}/credits">
      ${csrfField(o.csrf)}<input type="hidden" name="idem" value="${o.idem}">
      <div class="field"><label for="c-amount">Amount in USD</label><input id="c-amount" name="amount_usd" required inputmode="decimal" placeholder="25.00" aria-describedby="c-amount-hint">
        <span class="hint" id="c-amount-hint">Positive adds credit (top-up); negative removes it (adjustment).</span></div>
      <div class="field"><label for="c-note">Note</label><input id="c-note" name="note" maxlength="500" placeholder="e.g. invoice 2024-017"></div>
      <div><button class="btn primary" type="submit">Post</button></div>
    </form>
  </section>
  <section class="card" aria-labelledby="manage-title">
    <h2 id="manage-title">Access</h2>
    <dl class="facts">
      <dt>Owner</dt><dd>${o.login ? html`${o.login.email} <span class="muted">· last ${o.login.lastLoginAt ? dateTime(o.login.lastLoginAt) : "never"}</span>` : html`<span class="muted">No login yet</span>`}</dd>
      <dt>Team</dt><dd data-testid="team">${o.team.admin} admin${o.team.admin === 1 ? "" : "s"} · ${o.team.member} member${o.team.member === 1 ? "" : "s"}</dd>
      <dt>Limits</dt><dd>${o.limits ? `${n(o.limits.rpm)} req/min · ${n(o.limits.tpm)} tokens/min · ${n(o.limits.concurrency)} concurrent` : "—"}</dd>
    </dl>
    <div class="actions-stack">
    <form class="inline" method="post" action="/console/accounts/${a.id}/invite">
      ${csrfField(o.csrf)}<button class="btn" type="submit">${o.login ? "Send password reset link" : "Create invite link"}</button>
    </form>
    <form class="inline" method="post" action="/console/accounts/${a.id}/plan">
      ${csrfField(o.csrf)}
      <div class="field"><label for="p-plan">Plan</label><select id="p-plan" name="plan">${o.plans.map((p) => html`<option${p === a.plan ? html` selected` : ""}>${p}</option>`)}</select></div>
      <button class="btn" type="submit">Change plan</button>
    </form>
    <form class="inline" method="post" action="/console/accounts/${a.id}/status" ${suspended ? "" : html`data-confirm="Suspend ${a.name}? Its API keys are refused immediately until you reactivate it." data-confirm-action="Suspend"`}>
      ${csrfField(o.csrf)}<input type="hidden" name="status" value="${suspended ? "active" : "suspended"}">
      <button class="btn ${suspended ? "primary" : "danger"}" type="submit">${suspended ? "Reactivate account" : "Suspend account"}</button>
    </form>
    </div>
  </section>
</div>
<section class="card" aria-labelledby="keys-title">
  <h2 id="keys-title">API keys</h2>
  ${o.keys.length === 0 ? empty("No keys", html`<p>The customer creates keys in the portal.</p>`) : html`<div class="table-wrap"><table class="data">
    <thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Status</th><th scope="col" class="num">Spent</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${o.keys.map((k) => html`<tr><td>${k.name || html`<span class="muted">Unnamed</span>`}</td><td><code>${k.display}</code></td><td>${statusBadge(k.status)}</td>
      <td class="num">${money(k.spent_micros)}</td><td>${k.last_used_at ? dateTime(k.last_used_at * 1000) : html`<span class="muted">Never</span>`}</td>
      <td>${k.status === "active" && html`<form class="actions" method="post" action="/console/keys/${k.id}/revoke" data-confirm="Revoke this key? Requests with it are refused at once." data-confirm-action="Revoke">${csrfField(o.csrf)}<button class="btn small danger" type="submit">Revoke</button></form>`}</td></tr>`)}</tbody></table></div>`}
</section>
<section class="card" aria-labelledby="ledger-title">
  <div class="card-head"><h2 id="ledger-title">Recent ledger entries</h2><a href="/console/usage?account=${a.id}">Usage →</a></div>
  ${o.ledger.length === 0 ? empty("No entries yet", html`<p>Top-ups, codes and charges appear here.</p>`) : ledgerTable(o.ledger)}
</section>`;
}
