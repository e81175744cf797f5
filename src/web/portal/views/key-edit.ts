import { html, type Html } from "../../html";
import { date } from "../../format";
import { csrfField, field, pageHead } from "../../layout";
import type { Limits } from "../../../gateway/limits/plans";
import { microsToUsd } from "../../../money/units";

/** What the edit form shows: the key's own settings and its rotation line's cap and budget. */
export interface KeyEditValues {
  id: string;
  name: string;
  display: string;
  models: string[] | null;
  expiresAt: number | null;
  capMicros: number | null;
  budget: { period: string; micros: number } | null;
  limits: { rpm: number | null; tpm: number | null; concurrency: number | null };
}

const PERIODS = [["month", "Per month"], ["week", "Per week (from Monday)"], ["day", "Per day"]] as const;
const usdValue = (m: number | null) => (m === null ? "" : microsToUsd(m));

/** The edit form of one key: name, models, expiry, spending cap, budget and rate limits (within the plan). */
export function keyEditView(o: { csrf: string; key: KeyEditValues; models: string[]; plan: { name: string; limits: Limits }; timeZone: string; rotated: boolean }): Html {
  const k = o.key;
  const limit = (name: "rpm" | "tpm" | "concurrency", label: string) =>
    field({
      name, label, type: "number", value: k.limits[name] === null ? "" : String(k.limits[name]),
      hint: `Empty: the plan's ${o.plan.limits[name].toLocaleString("en-US")}. At most that.`,
      attrs: `min="1" max="${o.plan.limits[name]}" inputmode="numeric"`,
    });
  return html`${pageHead(`Edit “${k.name || k.display}”`, html`Changes apply from the key's next request. <a href="/portal/keys">Back to the keys</a>`)}
<section class="card" aria-labelledby="edit-title">
  <h2 id="edit-title">Settings of <code>${k.display}</code></h2>
  <form class="stack" method="post" action="/portal/keys/${k.id}/edit">
    ${csrfField(o.csrf)}
    ${field({ name: "name", label: "Name", value: k.name, attrs: 'maxlength="200"' })}
    <fieldset><legend>Allowed models</legend>
      <div class="checks">${o.models.map((m) => html`<label><input type="checkbox" name="models" value="${m}"${k.models?.includes(m) ? html` checked` : ""}> ${m}</label>`)}</div>
      <span class="hint">Leave all unchecked to allow every model.</span></fieldset>
    ${field({ name: "expires_on", label: "Expires on (UTC date)", type: "date", value: k.expiresAt === null ? "" : date(k.expiresAt), hint: "Empty: never. The key stops at 00:00 UTC that day." })}
    ${field({ name: "spend_cap_usd", label: "Spending cap (USD)", value: usdValue(k.capMicros), attrs: 'inputmode="decimal" placeholder="none"',
      hint: o.rotated ? "Shared by the keys of its rotation: old and new keys count against one cap (and one budget)." : "Requests stop once the key has spent this much, ever." })}
    <div class="field-row">
      ${field({ name: "budget_usd", label: "Budget (USD)", value: usdValue(k.budget?.micros ?? null), attrs: 'inputmode="decimal" placeholder="none"',
        hint: `Resets at the start of each period (${o.timeZone}).` })}
      <div class="field"><label for="f-budget_period">Budget period</label>
        <select id="f-budget_period" name="budget_period">${PERIODS.map(([v, l]) => html`<option value="${v}"${(k.budget?.period ?? "month") === v ? html` selected` : ""}>${l}</option>`)}</select></div>
    </div>
    <fieldset><legend>Rate limits (plan ${o.plan.name})</legend>
      ${limit("rpm", "Requests per minute")}${limit("tpm", "Tokens per minute")}${limit("concurrency", "Requests at once")}</fieldset>
    <div class="buttons"><button class="btn primary" type="submit">Save changes</button> <a class="btn" href="/portal/keys">Cancel</a></div>
  </form>
</section>`;
}
