import { Elysia } from "elysia";
import { eq, inArray } from "drizzle-orm";
import type { ModuleDeps } from "../../runtime/module-deps";
import type { Store } from "../../store/store";
import { all, get } from "../../store/work";
import { usdToMicros } from "../../money/units";
import { usd } from "../format";
import { field } from "../forms";
import { html, htmlResponse, redirectResponse } from "../html";
import { empty, page, pageHead, type Flash } from "../layout";
import { getAccountRow } from "../../modules/accounts/service";
import { flashCookie, isSecure, takeFlash } from "../session";
import { billingSettings, withDecimalPoint } from "../../modules/billing/amounts";
import { PaymentStatus } from "../../modules/billing/model";
import { listPayments, parsePaymentCursor, paymentCursor, type PaymentRow } from "../../modules/billing/service";
import { alertCard, paymentsTable } from "./views";

// A fresh object per route: Elysia writes macro hooks into it, and a shared one leaks between apps.
const hide = () => ({ console: true, detail: { hide: true } }) as const;
const PAGE = 100;

/** The names of the accounts the payments belong to. */
async function accountNames(store: Store, rows: PaymentRow[]): Promise<Map<string, string>> {
  const ids = [...new Set(rows.map((r) => r.accountId))];
  if (ids.length === 0) return new Map();
  const found = await store.read((q) => all(q.db.select({ id: q.t.accounts.id, name: q.t.accounts.name }).from(q.t.accounts).where(inArray(q.t.accounts.id, ids))));
  return new Map(found.map((a) => [a.id, a.name]));
}

/** Operator console: every card payment (filter by account and status), and an account's alert. */
export const billingConsolePages = (deps: ModuleDeps) => {
  const enabled = billingSettings(deps.config).enabled;
  return new Elysia()
    .use(deps.webAuth)
    .get(
      "/console/payments",
      async ({ request, operator, query }) => {
        const accountId = typeof query.account_id === "string" && query.account_id ? query.account_id : undefined;
        const parsed = PaymentStatus.safeParse(query.status);
        const status = parsed.success ? parsed.data : undefined;
        // A cursor (time and id): a bare time would skip the older page's rows of the same millisecond.
        const before = typeof query.before === "string" ? (parsePaymentCursor(query.before) ?? undefined) : undefined;
        const account = accountId ? await deps.store.read((q) => get(q.db.select().from(q.t.accounts).where(eq(q.t.accounts.id, accountId)))) : undefined;
        const rows = await listPayments(deps.store, { limit: PAGE + 1, accountId, status, before });
        const shown = rows.slice(0, PAGE);
        const n = await accountNames(deps.store, shown);
        const alert = account && deps.alerts ? await deps.alerts.view(account.id) : null;
        const more = rows.length > PAGE && new URLSearchParams({ ...(accountId ? { account_id: accountId } : {}), ...(status ? { status } : {}), before: paymentCursor(shown.at(-1)!) });
        const f = takeFlash(request);
        const body = html`${pageHead(account ? `Payments of ${account.name}` : "Payments", enabled ? "Card top-ups through Stripe, newest first." : "Card payments are not enabled (no Stripe keys configured).")}
<section class="card" aria-labelledby="filter-title">
  <h2 id="filter-title" class="sr-only">Filter</h2>
  <form class="inline" method="get" action="/console/payments">
    <div class="field"><label for="account_id">Account id</label><input id="account_id" name="account_id" value="${accountId ?? ""}" placeholder="acc_…"></div>
    <div class="field"><label for="status">Status</label><select id="status" name="status"><option value="">Any</option>${PaymentStatus.options.map(
      (s) => html`<option value="${s}"${s === status ? html` selected` : ""}>${s.replace("_", " ")}</option>`,
    )}</select></div>
    <button class="btn" type="submit">Show</button>${(accountId || status) && html` <a class="btn" href="/console/payments">Clear</a>`}
  </form>
</section>
<section class="card" aria-labelledby="list-title">
  <h2 id="list-title">${shown.length} payment${shown.length === 1 ? "" : "s"}${more ? "+" : ""}</h2>
  ${shown.length === 0
    ? empty("No payments", html`<p>${enabled ? "Payments appear here once customers buy credits." : "Configure stripe_secret_key and stripe_webhook_secret to take card payments."}</p>`)
    : paymentsTable(shown, { account: (id) => html`<a href="/console/accounts/${id}">${n.get(id) ?? id}</a> <a class="muted" href="/console/payments?account_id=${id}">all</a>` })}
  ${more && html`<div class="pager"><span class="muted">Newest first</span><a class="btn small" href="/console/payments?${more.toString()}">Older →</a></div>`}
</section>
${account && alert && alertCard({ csrf: operator.session.csrf, alert, action: `/console/payments/${account.id}/alert`, email: account.email })}`;
        return htmlResponse(page({ area: "console", title: "Payments", active: "payments", who: "Operator", csrf: operator.session.csrf, flash: f.flash, body }), 200, f.headers);
      },
      hide(),
    )
    .post(
      "/console/payments/:id/alert",
      async ({ request, operator, params, body }) => {
        const to = `/console/payments?account_id=${encodeURIComponent(params.id)}`;
        const back = (kind: Flash["kind"], message: string) => redirectResponse(to, [flashCookie({ kind, message }, isSecure(deps, request))]);
        if (!deps.alerts) return back("error", "Alerts are not available.");
        await getAccountRow(deps.store, params.id);
        if (field(body, "reset")) {
          await deps.alerts.setThreshold(params.id, null, operator.actor);
          return back("ok", "The account uses the default low-balance threshold again.");
        }
        let micros: number;
        try {
          micros = usdToMicros(withDecimalPoint(field(body, "threshold_usd").trim().replace(/^\$/, ""), 2) ?? "unclear");
          if (micros < 0) throw new Error("negative");
        } catch {
          return back("error", "Enter the threshold in USD, e.g. 5 or 12.50 (0 turns the alert off).");
        }
        await deps.alerts.setThreshold(params.id, micros, operator.actor);
        return back("ok", micros === 0 ? "Low-balance alert turned off for this account." : `Alert threshold set to ${usd(micros)}.`);
      },
      hide(),
    );
};
