import { html, jsonScript, type Html } from "../../html";
import { compact, int, money, usd, cents, exactTitle } from "../../format";
import { empty, pageHead } from "../../layout";
import type { AccountRow } from "../../../modules/accounts/service";
import type { Balance } from "../../../money/credit-store";
import type { DaySeries } from "../service";

export interface PlanInfo {
  effective: string;
  limits: { rpm: number; tpm: number; concurrency: number };
  nextTier: { plan: string; minLifetimeTopupMicros: number } | null;
  lifetimeTopupMicros: number;
}

export function suspendedBanner(account: AccountRow): Html {
  return account.status === "suspended"
    ? html`<div class="flash warn" role="alert">This account is suspended: its API keys are refused and changes are disabled. Contact the operator.</div>`
    : html``;
}

const limit = (n: number) => (Number.isFinite(n) ? int(n) : "Unlimited");

/** The signed-in member's own budget, shown on the overview. */
export interface OwnBudget {
  period: string;
  limit: number;
  spent: number;
  remaining: number;
  resetsAt: string;
}

export function overviewView(o: {
  account: AccountRow; balance: Balance; plan: PlanInfo | null; keyCount: number;
  /** Null while the account's usage reads are all under way (the page is shown without it). */
  series: DaySeries | null;
  /** A member's view: their own keys' spend. */
  own: boolean;
  /** The owner's view: links to the pages only the owner may open (credits). */
  owner: boolean;
  budget: OwnBudget | null;
}): Html {
  const { balance: b } = o;
  const s = o.series ?? { days: [], spend: [], tokens: [], requests: [] };
  const spend30 = s.spend.reduce((a, v) => a + v, 0);
  const tokens30 = s.tokens.reduce((a, v) => a + v, 0);
  const requests30 = s.requests.reduce((a, v) => a + v, 0);
  const low = b.available <= 0;
  return html`${pageHead("Overview", html`Signed in to <strong>${o.account.name}</strong>`)}
${low && o.account.status === "active" && html`<div class="flash warn" role="status">You have no available credit: requests are refused until ${!o.owner ? "the account's owner adds credits" : html`you <a href="/portal/credits">add credits</a>`}.</div>`}
<section class="grid" aria-label="Balance">
  <div class="stat accent"><div class="label">Available</div><div class="value"${exactTitle(b.available)} data-testid="available">${cents(b.available)}</div><div class="hint">What new requests can spend</div></div>
  <div class="stat"><div class="label">Balance</div><div class="value"${exactTitle(b.balance)} data-testid="balance">${cents(b.balance)}</div><div class="hint">Credits minus settled charges</div></div>
  <div class="stat"><div class="label">Held</div><div class="value"${exactTitle(b.held)} data-testid="held">${cents(b.held)}</div><div class="hint">Reserved by requests in flight</div></div>
  <div class="stat"><div class="label">${o.own ? "Your spend, 30 days" : "Spend, 30 days"}</div><div class="value"${exactTitle(spend30)} data-testid="spend30">${cents(spend30)}</div><div class="hint">${int(requests30)} requests · ${compact(tokens30)} tokens</div></div>
</section>
${o.budget && html`<section class="card" aria-labelledby="budget-title">
  <div class="card-head"><h2 id="budget-title">Your budget</h2><span class="muted">Resets ${o.budget.resetsAt}</span></div>
  <p><strong data-testid="budget-left">${usd(Math.max(0, o.budget.remaining))}</strong> left of ${usd(o.budget.limit)} per ${o.budget.period} (${usd(o.budget.spent)} spent).</p>
</section>`}
<section class="card" aria-labelledby="chart-title">
  <div class="card-head"><h2 id="chart-title">Spend and tokens per day</h2><span class="legend-note">Last 30 days, UTC</span></div>
  ${o.series === null
    ? html`<p class="muted" data-testid="chart-busy">This account's usage is being read by other requests right now: reload in a moment to see the chart.</p>`
    : requests30 === 0
    ? empty("No usage yet", html`<p>Once you call the API, your daily spend and tokens appear here. <a href="/portal/quickstart">See the quickstart</a>.</p>`)
    : html`<div id="usage-chart" class="chart" role="img" aria-label="Bar chart of spend and line chart of tokens per day over the last 30 days"></div>${jsonScript("chart-data", { days: s.days, spend: s.spend, tokens: s.tokens })}`}
</section>
<div class="grid-2">
  <section class="card" aria-labelledby="plan-title">
    <h2 id="plan-title">Plan and limits</h2>
    ${o.plan
      ? html`<dl class="facts">
      <dt>Plan</dt><dd><span class="badge info">${o.plan.effective}</span></dd>
      <dt>Requests per minute</dt><dd>${limit(o.plan.limits.rpm)}</dd>
      <dt>Tokens per minute</dt><dd>${limit(o.plan.limits.tpm)}</dd>
      <dt>Concurrent requests</dt><dd>${limit(o.plan.limits.concurrency)}</dd>
      <dt>Lifetime top-ups</dt><dd>${money(o.plan.lifetimeTopupMicros)}</dd>
    </dl>
    ${o.plan.nextTier && html`<p class="muted">Top up ${usd(Math.max(0, o.plan.nextTier.minLifetimeTopupMicros - o.plan.lifetimeTopupMicros))} more in total to move to the <strong>${o.plan.nextTier.plan}</strong> plan.</p>`}`
      : html`<p class="muted">Plan: ${o.account.plan}</p>`}
  </section>
  <section class="card" aria-labelledby="start-title">
    <h2 id="start-title">Get started</h2>
    <p class="muted">${o.keyCount === 0 ? "You have no API key yet." : `You have ${o.keyCount} active API key${o.keyCount === 1 ? "" : "s"}.`}</p>
    <p><a class="btn primary" href="/portal/keys">${o.keyCount === 0 ? "Create your first key" : "Manage API keys"}</a></p>
    <p><a href="/portal/quickstart">Quickstart: Python, JavaScript and curl</a>${o.owner && html` · <a href="/portal/credits">Redeem a credit code</a>`}</p>
  </section>
</div>`;
}
