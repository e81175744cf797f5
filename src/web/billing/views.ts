import { dateTime, usd, cents, exactTitle } from "../format";
import { html, type Html } from "../html";
import { csrfField, empty, pageHead } from "../layout";
import type { LowBalanceViewT } from "../../modules/alerts/model";
import type { Balance } from "../../money/credit-store";
import { formatMinor, currencyExponent } from "../../modules/billing/amounts";
import type { BillingInfoT } from "../../modules/billing/model";
import type { PaymentRow } from "../../modules/billing/service";

const STATUS: Record<PaymentRow["status"], [string, string]> = {
  pending: ["Pending", "info"],
  paid: ["Paid", "ok"],
  expired: ["Expired", ""],
  failed: ["Failed", "danger"],
  partially_refunded: ["Partly refunded", "warn"],
  refunded: ["Refunded", "warn"],
  disputed: ["Disputed", "danger"],
  dispute_lost: ["Dispute lost", "danger"],
};

export const paymentStatus = (s: PaymentRow["status"]): Html => {
  const [label, cls] = STATUS[s];
  return html`<span class="badge ${cls}" data-status="${s}">${label}</span>`;
};

export const money = (minor: number, currency: string): string => `${formatMinor(minor, currencyExponent(currency))} ${currency.toUpperCase()}`;

export function paymentsTable(rows: PaymentRow[], o: { account?: (id: string) => Html } = {}): Html {
  return html`<div class="table-wrap"><table class="data" aria-label="Payments">
  <thead><tr><th scope="col">Date (UTC)</th>${o.account && html`<th scope="col">Account</th>`}<th scope="col" class="num">Paid</th>
    <th scope="col" class="num">Credits</th><th scope="col">Status</th><th scope="col">Receipt</th></tr></thead>
  <tbody>${rows.map((p) => html`<tr data-payment="${p.id}">
    <td class="nowrap">${dateTime(p.createdAt)}</td>${o.account && html`<td>${o.account(p.accountId)}</td>`}
    <td class="num nowrap">${money(p.amountMinor, p.currency)}${p.refundedMinor > 0 && html`<div class="muted">${money(p.refundedMinor, p.currency)} refunded</div>`}</td>
    <td class="num">${usd(p.creditMicros)}${p.debitedMicros > 0 && html`<div class="muted">−${usd(p.debitedMicros)} taken back</div>`}</td>
    <td>${paymentStatus(p.status)}</td>
    <td>${p.receiptUrl ? html`<a href="${p.receiptUrl}" target="_blank" rel="noopener noreferrer">Receipt</a>` : html`<span class="muted">—</span>`}</td>
  </tr>`)}</tbody></table></div>`;
}

const DELIVERY: Record<string, string> = { sent: "ok", failed: "danger", pending: "info", skipped: "" };

export function alertCard(o: { csrf: string; alert: LowBalanceViewT; action: string; email: string | null; disabled?: boolean }): Html {
  const a = o.alert;
  const off = o.disabled ? html` disabled` : "";
  const channels = [
    a.channels.email && (o.email ? `an email to ${o.email}` : "an email (no address on file)"),
    a.channels.webhook && "a notification to the operator",
  ].filter(Boolean);
  return html`<section class="card" aria-labelledby="alert-title">
  <div class="card-head"><h2 id="alert-title">Low-balance alert</h2>
    <span class="badge ${a.threshold_micros === 0 ? "" : a.armed ? "ok" : "warn"}" data-testid="alert-state">${
      a.threshold_micros === 0 ? "Off" : a.armed ? "Armed" : "Fired — re-arms when credit is back above the threshold"
    }</span></div>
  <p class="muted">${a.threshold_micros === 0
    ? "No alert is set."
    : html`When available credit falls below <strong>${usd(a.threshold_micros)}</strong>${a.source === "default" ? " (the default)" : ""}, you get one alert${
        channels.length ? html` (${channels.join(" and ")})` : ""
      }, not one per request.`}</p>
  <form class="inline" method="post" action="${o.action}">
    ${csrfField(o.csrf)}
    <div class="field"><label for="threshold">Alert below (USD)</label>
      <input id="threshold" name="threshold_usd" inputmode="decimal" required value="${a.source === "account" ? usd(a.threshold_micros).replace(/^\$|,/g, "") : ""}"
        placeholder="${usd(a.default_threshold_micros).replace(/^\$|,/g, "")}" aria-describedby="threshold-hint">
      <span class="hint" id="threshold-hint">0 turns the alert off.</span></div>
    <button class="btn primary" type="submit"${off}>Save</button>
    ${a.source === "account" && html`<button class="btn" type="submit" name="reset" value="1" formnovalidate${off}>Use the default (${usd(a.default_threshold_micros)})</button>`}
  </form>
  ${a.recent.length > 0 && html`<h3>Recent alerts</h3><div class="table-wrap"><table class="data" aria-label="Recent alerts">
    <thead><tr><th scope="col">Date (UTC)</th><th scope="col" class="num">Available</th><th scope="col" class="num">Threshold</th><th scope="col">Email</th><th scope="col">Webhook</th></tr></thead>
    <tbody>${a.recent.map((e) => html`<tr><td class="nowrap">${dateTime(e.created_at * 1000)}</td><td class="num">${usd(e.available_micros)}</td>
      <td class="num">${usd(e.threshold_micros)}</td><td><span class="badge ${DELIVERY[e.email_status] ?? ""}">${e.email_status}</span></td>
      <td><span class="badge ${DELIVERY[e.webhook_status] ?? ""}">${e.webhook_status}</span></td></tr>`)}</tbody></table></div>`}
</section>`;
}

export interface Contact {
  text?: string;
  url?: string;
}

/**
 * Other ways to credits than a card: a credit code (the redeem form, posting to the credits page)
 * and the operator's own words and link, so that a customer without Stripe is never at a dead end.
 */
function getCredits(csrf: string, contact: Contact, suspended: boolean): Html {
  const link = contact.url && html`<a class="btn" href="${contact.url}" rel="noopener" data-testid="billing-contact">${contact.url.startsWith("mailto:") ? `Email ${contact.url.slice(7)}` : "Contact us about credits"}</a>`;
  return html`<section class="card" aria-labelledby="get-title">
  <h2 id="get-title">Get credits</h2>
  ${contact.text && html`<p data-testid="billing-contact-text">${contact.text}</p>`}
  ${link && html`<p>${link}</p>`}
  <form class="inline" method="post" action="/portal/credits/redeem" aria-label="Redeem a credit code">
    ${csrfField(csrf)}
    <div class="field"><label for="redeem-code">Credit code</label>
      <input id="redeem-code" name="code" required placeholder="TG-XXXX-XXXX-XXXX-XXXX" autocomplete="off" spellcheck="false"></div>
    <button class="btn primary" type="submit"${suspended ? html` disabled` : ""}>Redeem</button>
  </form>
  <p class="muted">A redeemed code is added to your balance at once; your <a href="/portal/credits">credit history</a> lists it.</p>
</section>`;
}

export function billingView(o: {
  csrf: string;
  info: BillingInfoT;
  balance: Balance;
  payments: PaymentRow[];
  alert: LowBalanceViewT | null;
  email: string | null;
  suspended: boolean;
  contact: Contact;
  error?: string | null;
  amount?: string;
}): Html {
  const cur = o.info.currency.toUpperCase();
  const off = o.suspended ? html` disabled` : "";
  const buy = o.info.enabled && html`<section class="card" aria-labelledby="buy-title">
  <h2 id="buy-title">Buy credits</h2>
  <p class="muted">Pay by card with Stripe: ${o.info.credit_per_unit === "1" ? `1 ${cur} buys 1 credit (1 USD of usage)` : `1 ${cur} buys ${o.info.credit_per_unit} credits`}.
    Credits are added as soon as Stripe confirms the payment.</p>
  <form class="inline" method="post" action="/portal/billing/checkout" aria-label="Preset amounts">
    ${csrfField(o.csrf)}
    ${o.info.presets.map((p) => html`<button class="btn" type="submit" name="amount" value="${p.amount}" data-testid="preset"${off}>${p.amount} ${cur}
      <span class="muted">→ ${usd(p.credit_micros)}</span></button>`)}
  </form>
  <form class="inline" method="post" action="/portal/billing/checkout" aria-label="Custom amount">
    ${csrfField(o.csrf)}
    <div class="field"><label for="amount">Other amount (${cur})</label>
      <input id="amount" name="amount" inputmode="decimal" required value="${o.amount ?? ""}" placeholder="${o.info.min_amount}"
        aria-describedby="amount-hint${o.error ? " amount-err" : ""}"${o.error ? html` aria-invalid="true"` : ""}>
      <span class="hint" id="amount-hint">Between ${o.info.min_amount} and ${o.info.max_amount} ${cur}.</span>
      ${o.error && html`<span class="error" id="amount-err" role="alert">${o.error}</span>`}</div>
    <button class="btn primary" type="submit"${off}>Continue to payment</button>
  </form>
  ${o.suspended && html`<p class="flash warn">This account is suspended: buying credits is not possible.</p>`}
</section>`;
  const history = (o.info.enabled || o.payments.length > 0) && html`<section class="card" aria-labelledby="payments-title">
  <h2 id="payments-title">Payment history</h2>
  ${o.payments.length === 0 ? empty("No payments yet", html`<p>Card payments and their receipts will be listed here.</p>`) : paymentsTable(o.payments)}
</section>`;
  return html`${pageHead("Billing", o.info.enabled ? "Buy credits by card, see your payments and set a low-balance alert." : "How to get credits, and a low-balance alert.")}
<section class="grid" aria-label="Balance">
  <div class="stat accent"><div class="label">Available</div><div class="value"${exactTitle(o.balance.available)} data-testid="billing-available">${cents(o.balance.available)}</div></div>
</section>
${buy}
${(!o.info.enabled || o.contact.text || o.contact.url) && getCredits(o.csrf, o.contact, o.suspended)}
${history}
${o.alert && alertCard({ csrf: o.csrf, alert: o.alert, action: "/portal/billing/alert", email: o.email, disabled: o.suspended })}`;
}
