import { html, type Html } from "../../html";
import { date } from "../../format";
import { csrfField, field, pageHead } from "../../layout";
import type { Limits } from "../../../gateway/limits/plans";
import { microsToUsd } from "../../../money/units";
import { fieldError, invalidAttrs, typed, typedList, type Refused } from "../../refused";

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

/**
 * The edit form of one key: name, models, expiry, spending cap, budget and rate limits (within the
 * plan); when refused, as submitted, with the message next to its field.
 */
export function keyEditView(o: { csrf: string; key: KeyEditValues; models: string[]; plan: { name: string; limits: Limits }; timeZone: string; rotated: boolean; refused?: Refused }): Html {
  const k = o.key;
  const r = o.refused;
  // The page kit's field, with what was typed and, on the wrong one, the message (focused: it is read out).
  const input = (f: Parameters<typeof field>[0]) =>
    field({ ...f, value: typed(r, f.name, f.value ?? ""), error: r?.field === f.name ? r.message : undefined, attrs: `${f.attrs ?? ""}${r?.field === f.name ? " autofocus" : ""}` });
  const limit = (name: "rpm" | "tpm" | "concurrency", label: string) =>
    input({
      name, label, type: "number", value: k.limits[name] === null ? "" : String(k.limits[name]),
      hint: `Empty: the plan's ${o.plan.limits[name].toLocaleString("en-US")}. At most that.`,
      attrs: `min="1" max="${o.plan.limits[name]}" inputmode="numeric"`,
    });
  const models = new Set(typedList(r, "models", k.models ?? []));
  const period = typed(r, "budget_period", k.budget?.period ?? "month");
  return html`${pageHead(`Edit “${k.name || k.display}”`, html`Changes apply from the key's next request. <a href="/portal/keys">Back to the keys</a>`)}
<section class="card" aria-labelledby="edit-title">
  <h2 id="edit-title">Settings of <code>${k.display}</code></h2>
  <form class="stack" method="post" action="/portal/keys/${k.id}/edit">
    ${csrfField(o.csrf)}
    ${r?.field === "form" && html`<p class="error" role="alert">${r.message}</p>`}
    ${input({ name: "name", label: "Name", value: k.name, attrs: 'maxlength="200"' })}
    <fieldset${r?.field === "models" ? html` aria-describedby="f-models-err"` : ""}><legend>Allowed models</legend>
      <div class="checks">${o.models.map((m) => html`<label><input type="checkbox" name="models" value="${m}"${models.has(m) ? html` checked` : ""}> ${m}</label>`)}</div>
      <span class="hint">Leave all unchecked to allow every model.</span>${fieldError(r, "models", "f-models")}</fieldset>
    ${input({ name: "expires_on", label: "Expires on (UTC date)", type: "date", value: k.expiresAt === null ? "" : date(k.expiresAt), hint: "Empty: never. The key stops at 00:00 UTC that day." })}
    ${input({ name: "spend_cap_usd", label: "Spending cap (USD)", value: usdValue(k.capMicros), attrs: 'inputmode="decimal" placeholder="none"',
      hint: o.rotated ? "Shared by the keys of its rotation: old and new keys count against one cap (and one budget)." : "Requests stop once the key has spent this much, ever." })}
    <div class="field-row">
      ${input({ name: "budget_usd", label: "Budget (USD)", value: usdValue(k.budget?.micros ?? null), attrs: 'inputmode="decimal" placeholder="none"',
        hint: `Resets at the start of each period (${o.timeZone}).` })}
      <div class="field"><label for="f-budget_period">Budget period</label>
        <select id="f-budget_period" name="budget_period"${invalidAttrs(r, "budget_period", "f-budget_period")}>${PERIODS.map(([v, l]) => html`<option value="${v}"${period === v ? html` selected` : ""}>${l}</option>`)}</select>
        ${fieldError(r, "budget_period", "f-budget_period")}</div>
    </div>
    <fieldset><legend>Rate limits (plan ${o.plan.name})</legend>
      ${limit("rpm", "Requests per minute")}${limit("tpm", "Tokens per minute")}${limit("concurrency", "Requests at once")}</fieldset>
    <div class="buttons"><button class="btn primary" type="submit">Save changes</button> <a class="btn" href="/portal/keys">Cancel</a></div>
  </form>
</section>`;
}
