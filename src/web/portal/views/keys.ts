import { html, type Html } from "../../html";
import { dateTime, money, relative, usd } from "../../format";
import { csrfField, empty, pageHead } from "../../layout";
import type { KeyViewT } from "../../../modules/keys/model";
import { fieldError, invalidAttrs, typed, typedList, type Refused } from "../../refused";

export function statusBadge(status: KeyViewT["status"]): Html {
  const cls = status === "active" ? "ok" : status === "revoked" ? "danger" : "warn";
  return html`<span class="badge ${cls}">${status}</span>`;
}

/** The id of the `i`th of several secret boxes on a page: the first keeps the plain one. */
export const nthId = (id: string, i: number): string => (i ? `${id}-${i + 1}` : id);

export function secretBox(title: string, text: string, secret: string, id = "new-key"): Html {
  return html`<section class="secret" aria-labelledby="${id}-title" role="status">
  <h2 id="${id}-title">${title}</h2>
  <p>${text}</p>
  <div class="row"><code id="${id}">${secret}</code><button class="btn primary" type="button" data-copy="#${id}">Copy</button></div>
</section>`;
}

const EXPIRY = [
  ["", "Never"], ["7", "In 7 days"], ["30", "In 30 days"], ["90", "In 90 days"], ["365", "In 1 year"],
] as const;
const GRACE = [["0", "Immediately"], ["3600", "After 1 hour"], ["86400", "After 24 hours"], ["604800", "After 7 days"]] as const;

/** Where a key line's budget stands, for its row. */
export interface KeyBudget {
  period: string;
  limit: number;
  remaining: number;
}

export function budgetText(b: KeyBudget): Html {
  return html`<div class="muted" data-testid="key-budget">${usd(b.limit)} per ${b.period} · ${usd(Math.max(0, b.remaining))} left</div>`;
}

export function keysView(o: {
  csrf: string;
  keys: KeyViewT[];
  models: string[];
  /** The keys made (or rotated) since the page was last shown, oldest first: each is shown only now. */
  created?: { key: string; name: string; rotated: boolean }[];
  disabled: boolean;
  now: number;
  /** Owners and admins see everyone's keys, with whose each is. */
  owners?: (k: KeyViewT) => string;
  /** Budget of each key's rotation line, by key id. */
  budgets: Map<string, KeyBudget>;
  /** The keys this member may rotate (their own; the owner any), by id. */
  rotatable: ReadonlySet<string>;
  /** The new-key form as submitted, when it was refused. */
  refused?: Refused | null;
}): Html {
  const active = o.keys.filter((k) => k.status === "active");
  const row = (k: KeyViewT) => keyRow(k, { csrf: o.csrf, disabled: o.disabled, now: o.now, owner: o.owners?.(k), budget: o.budgets.get(k.id), rotate: o.rotatable.has(k.id) });
  return html`${pageHead("API keys", "Keys authenticate your requests. Each key is shown once, when it is created.")}
${(o.created ?? []).map((c, i) => secretBox(
    c.rotated ? "Your replacement key" : "Your new API key",
    `Copy “${c.name || "unnamed key"}” now and store it somewhere safe: it will not be shown again.`,
    c.key,
    nthId("new-key", i),
  ))}
<section class="card" aria-labelledby="keys-title">
  <div class="card-head"><h2 id="keys-title">${o.owners ? "The account's keys" : "Your keys"}</h2><span class="muted">${active.length} active</span></div>
  ${o.keys.length === 0
    ? empty("No API keys yet", html`<p>Create one below to start calling the API.</p>`)
    : html`<div class="table-wrap"><table class="data cards" aria-labelledby="keys-title">
    <thead><tr><th scope="col">Name</th><th scope="col">Key</th>${o.owners && html`<th scope="col">Member</th>`}<th scope="col">Models</th><th scope="col">Status</th>
      <th scope="col" class="num">Spent</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${o.keys.map(row)}</tbody>
  </table></div>`}
</section>
${createForm(o)}`;
}

/** The new-key form, with what was typed and the message next to its field when it was refused. */
function createForm(o: { csrf: string; models: string[]; disabled: boolean; refused?: Refused | null }): Html {
  const r = o.refused;
  const checked = new Set(typedList(r, "models"));
  const days = typed(r, "expires_in_days");
  return html`<section class="card" aria-labelledby="create-title">
  <h2 id="create-title">Create a key</h2>
  <form class="stack" method="post" action="/portal/keys">
    ${csrfField(o.csrf)}
    <div class="field"><label for="key-name">Name</label>
      <input id="key-name" name="name" maxlength="200" placeholder="e.g. production server" value="${typed(r, "name")}"${invalidAttrs(r, "name", "key-name", "key-name-hint")}>
      <span class="hint" id="key-name-hint">Helps you recognise the key later.</span>${fieldError(r, "name", "key-name")}</div>
    <fieldset${r?.field === "models" ? html` aria-describedby="key-models-err"` : ""}><legend>Allowed models</legend>
      <div class="checks">${o.models.map((m) => html`<label><input type="checkbox" name="models" value="${m}"${checked.has(m) ? html` checked` : ""}> ${m}</label>`)}</div>
      <span class="hint">Leave all unchecked to allow every model.</span>${fieldError(r, "models", "key-models")}</fieldset>
    <div class="field"><label for="key-expiry">Expires</label>
      <select id="key-expiry" name="expires_in_days"${invalidAttrs(r, "expires_in_days", "key-expiry")}>${EXPIRY.map(([v, l]) => html`<option value="${v}"${v === days ? html` selected` : ""}>${l}</option>`)}</select>
      ${fieldError(r, "expires_in_days", "key-expiry")}</div>
    <div class="field"><label for="key-cap">Spending cap (USD, optional)</label>
      <input id="key-cap" name="spend_cap_usd" inputmode="decimal" placeholder="e.g. 50" value="${typed(r, "spend_cap_usd")}"${invalidAttrs(r, "spend_cap_usd", "key-cap", "key-cap-hint")}>
      <span class="hint" id="key-cap-hint">Requests with this key stop once it has spent this much.</span>${fieldError(r, "spend_cap_usd", "key-cap")}</div>
    <div><button class="btn primary" type="submit"${o.disabled ? html` disabled` : ""}>Create key</button></div>
  </form>
</section>`;
}

function keyRow(k: KeyViewT, o: { csrf: string; disabled: boolean; now: number; owner?: string; budget?: KeyBudget; rotate: boolean }): Html {
  const expires = k.expires_at === null ? "Never" : html`<span title="${dateTime(k.expires_at * 1000)} UTC">${relative(k.expires_at * 1000, o.now)}</span>`;
  const label = k.name || k.display;
  return html`<tr data-key-id="${k.id}">
  <td data-label="Name">${k.name || html`<span class="muted">Unnamed</span>`}</td>
  <td data-label="Key"><code>${k.display}</code></td>
  ${o.owner !== undefined && html`<td data-label="Member">${o.owner}</td>`}
  <td data-label="Models" class="wrap">${k.models ? k.models.join(", ") : html`<span class="muted">All models</span>`}</td>
  <td data-label="Status">${statusBadge(k.status)}</td>
  <td data-label="Spent" class="num"><div>${money(k.spent_micros)}${k.spend_cap_micros !== null && html`<span class="muted"> / ${usd(k.spend_cap_micros)}</span>`}${o.budget && budgetText(o.budget)}</div></td>
  <td data-label="Last used" class="nowrap">${k.last_used_at === null ? html`<span class="muted">Never</span>` : relative(k.last_used_at * 1000, o.now)}</td>
  <td data-label="Expires" class="nowrap">${k.status === "revoked" ? "—" : expires}</td>
  <td class="row-actions">${k.status === "active" && !o.disabled
    ? html`<div class="actions">
    <a class="btn small" href="/portal/keys/${k.id}/edit">Edit<span class="sr-only"> ${label}</span></a>
    ${o.rotate && html`<form method="post" action="/portal/keys/${k.id}/rotate" class="inline" data-confirm="A new key replaces “${label}”. The old key stops working at the time you chose." data-confirm-action="Rotate key">
      ${csrfField(o.csrf)}
      <label class="sr-only" for="grace-${k.id}">When the old key stops working</label>
      <select id="grace-${k.id}" name="grace_seconds" class="small">${GRACE.map(([v, l]) => html`<option value="${v}">${l}</option>`)}</select>
      <button class="btn small" type="submit">Rotate</button>
    </form>`}
    <form method="post" action="/portal/keys/${k.id}/revoke" data-confirm="Revoke “${label}”? Requests with this key are refused at once. This cannot be undone." data-confirm-action="Revoke key">
      ${csrfField(o.csrf)}<button class="btn small danger" type="submit">Revoke</button>
    </form></div>`
    : ""}</td>
</tr>`;
}
