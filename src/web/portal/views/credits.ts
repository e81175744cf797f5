import { html, type Html } from "../../html";
import { dateTime, signedUsd, usd, cents, exactTitle } from "../../format";
import { csrfField, empty, pageHead } from "../../layout";
import type { LedgerRow } from "../../../money/ledger";
import type { Balance } from "../../../money/credit-store";

const KIND: Record<LedgerRow["kind"], [string, string]> = {
  topup: ["Top-up", "ok"],
  payment: ["Payment", "ok"],
  redeem: ["Credit code", "info"],
  adjustment: ["Adjustment", ""],
  charge: ["Usage", ""],
  refund: ["Refund", "warn"],
};

export function ledgerTable(rows: LedgerRow[], o: { showRequest?: boolean } = {}): Html {
  return html`<div class="table-wrap"><table class="data" aria-label="Ledger">
  <thead><tr><th scope="col">Date (UTC)</th><th scope="col">Type</th><th scope="col">Details</th>
    <th scope="col" class="num">Amount</th><th scope="col" class="num">Balance after</th></tr></thead>
  <tbody>${rows.map((r) => {
    const [label, cls] = KIND[r.kind];
    const detail = r.note ?? (r.kind === "charge" && r.requestId ? html`<code>${r.requestId}</code>` : "");
    return html`<tr><td class="nowrap">${dateTime(r.createdAt)}</td><td><span class="badge ${cls}">${label}</span></td>
      <td>${detail}${o.showRequest && r.requestId && r.note && html` <code class="muted">${r.requestId}</code>`}</td>
      <td class="num">${signedUsd(r.amountMicros)}</td><td class="num">${usd(r.balanceAfterMicros)}</td></tr>`;
  })}</tbody>
</table></div>`;
}

export function creditsView(o: {
  csrf: string;
  balance: Balance;
  rows: LedgerRow[];
  kinds: string;
  next: number | null;
  disabled: boolean;
}): Html {
  const b = o.balance;
  const q = (before?: number) => `/portal/credits?${new URLSearchParams({ ...(o.kinds ? { kinds: o.kinds } : {}), ...(before ? { before: String(before) } : {}) })}`;
  return html`${pageHead("Credits", "Your balance and every credit and charge on your account.")}
<section class="grid" aria-label="Balance">
  <div class="stat accent"><div class="label">Available</div><div class="value"${exactTitle(b.available)}>${cents(b.available)}</div></div>
  <div class="stat"><div class="label">Balance</div><div class="value"${exactTitle(b.balance)} data-testid="credits-balance">${cents(b.balance)}</div></div>
  <div class="stat"><div class="label">Held</div><div class="value"${exactTitle(b.held)}>${cents(b.held)}</div></div>
</section>
<section class="card" aria-labelledby="redeem-title">
  <h2 id="redeem-title">Redeem a credit code</h2>
  <form class="inline" method="post" action="/portal/credits/redeem">
    ${csrfField(o.csrf)}
    <div class="field"><label for="code">Code</label>
      <input id="code" name="code" required placeholder="TG-XXXX-XXXX-XXXX-XXXX" autocomplete="off" spellcheck="false"></div>
    <button class="btn primary" type="submit"${o.disabled ? html` disabled` : ""}>Redeem</button>
  </form>
</section>
<section class="card" aria-labelledby="ledger-title">
  <div class="card-head"><h2 id="ledger-title">History</h2>
    <form class="inline" method="get" action="/portal/credits"><label class="sr-only" for="kinds">Show</label>
      <select id="kinds" name="kinds"><option value="">All entries</option><option value="credits"${o.kinds === "credits" ? html` selected` : ""}>Credits only</option><option value="charges"${o.kinds === "charges" ? html` selected` : ""}>Usage charges only</option></select>
      <button class="btn small" type="submit">Show</button></form></div>
  ${o.rows.length === 0 ? empty("Nothing here yet", html`<p>Top-ups, redeemed codes and usage charges will be listed here.</p>`) : ledgerTable(o.rows)}
  ${(o.next || o.rows.length > 0) && html`<div class="pager"><span class="muted">Newest first</span><span>${o.next && html`<a class="btn small" href="${q(o.next)}">Older →</a>`}</span></div>`}
</section>`;
}
