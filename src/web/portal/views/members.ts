import { html, type Html } from "../../html";
import { dateTime, relative, usd } from "../../format";
import { csrfField, empty, pageHead } from "../../layout";
import type { MemberViewT } from "../../../modules/members/model";
import { microsToUsd } from "../../../money/units";
import { nthId, secretBox } from "./keys";

const GRACE = [["0", "Now"], ["3600", "In 1 hour"], ["86400", "In 24 hours"], ["604800", "In 7 days"]] as const;
const PERIODS = [["month", "per month"], ["week", "per week"], ["day", "per day"]] as const;
const ROLE_TEXT = { owner: "Owner", admin: "Admin", member: "Member" } as const;

/**
 * The owner's Members page: who is in the account, what their keys spent, and the forms to manage
 * them; removed members too while their keys still work (the grace of the removal).
 */
export function membersView(o: { csrf: string; members: MemberViewT[]; invited?: { email: string; url: string }[]; disabled: boolean; now: number; timeZone: string }): Html {
  return html`${pageHead("Members", "Who signs in to this account. Admins see every key and all usage; members only their own keys and usage.")}
${(o.invited ?? []).map((v, i) => secretBox(
    `Invite link for ${v.email}`,
    "Send this one-time link to them: it is shown only now.",
    v.url,
    nthId("invite-url", i),
  ))}
<section class="card" aria-labelledby="members-title">
  <div class="card-head"><h2 id="members-title">The team</h2><span class="muted">Spend this month, budgets reset in ${o.timeZone}</span></div>
  ${o.members.length === 0
    ? empty("No members yet", html`<p>Invite someone below.</p>`)
    : html`<div class="table-wrap"><table class="data cards" aria-labelledby="members-title">
    <thead><tr><th scope="col">Member</th><th scope="col">Role</th><th scope="col" class="num">Keys</th><th scope="col" class="num">This month</th><th scope="col">Budget</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${o.members.map((m) => memberRow(m, o))}</tbody>
  </table></div>`}
</section>
<section class="card" aria-labelledby="invite-title">
  <h2 id="invite-title">Invite someone</h2>
  <form class="inline" method="post" action="/portal/members">
    ${csrfField(o.csrf)}
    <div class="field"><label for="invite-email">Email</label><input id="invite-email" name="email" type="email" required autocomplete="off"></div>
    <div class="field"><label for="invite-role">Role</label><select id="invite-role" name="role"><option value="member">Member: own keys and usage</option><option value="admin">Admin: all keys and usage</option></select></div>
    <button class="btn primary" type="submit"${o.disabled ? html` disabled` : ""}>Send invite</button>
  </form>
</section>`;
}

function memberRow(m: MemberViewT, o: { csrf: string; disabled: boolean; now: number }): Html {
  const who = m.email ?? "No email yet";
  const budget = m.budget
    ? html`${usd(m.budget.amount_micros)} per ${m.budget.period}${m.budget_status && html`<div class="muted">${usd(Math.max(0, m.budget_status.remaining_micros))} left</div>`}`
    : html`<span class="muted">None</span>`;
  return html`<tr data-member-id="${m.id}">
  <td data-label="Member"><div>${who}${m.status === "invited" ? html` <span class="badge warn">invited</span>` : ""}${m.status === "removed" ? html` <span class="badge warn">removed</span>` : ""}
    <div class="muted">${m.status === "removed" ? stopsText(m, o.now) : m.last_login_at === null ? "Never signed in" : `Signed in ${relative(m.last_login_at * 1000, o.now)}`}</div></div></td>
  <td data-label="Role">${ROLE_TEXT[m.role]}</td>
  <td data-label="Keys" class="num">${m.active_keys}</td>
  <td data-label="This month" class="num">${usd(m.spent_this_month_micros)}</td>
  <td data-label="Budget"><div>${budget}</div></td>
  <td class="row-actions">${o.disabled ? "" : m.status === "removed" ? stopNowForm(m, o.csrf) : memberForms(m, o.csrf)}</td>
</tr>`;
}

/** A removed member in the grace of the removal: their keys still work, and bill, until then. */
function stopsText(m: MemberViewT, now: number): Html {
  const until = m.keys_work_until;
  return until === null
    ? html`<span data-testid="keys-stop">Removed; their keys still work</span>`
    : html`<span data-testid="keys-stop">Removed; their keys stop <span title="${dateTime(until * 1000)} UTC">${relative(until * 1000, now)}</span></span>`;
}

/** Removing again with no grace: the removed member's keys that still work are revoked now. */
function stopNowForm(m: MemberViewT, csrf: string): Html {
  const label = m.email ?? m.id;
  return html`<div class="actions"><form method="post" action="/portal/members/${m.id}/remove" class="inline" data-confirm="Revoke ${label}'s keys now? They stop working at once." data-confirm-action="Revoke keys">${csrfField(csrf)}
    <input type="hidden" name="grace_seconds" value="0">
    <button class="btn small danger" type="submit">Revoke keys now</button></form></div>`;
}

function memberForms(m: MemberViewT, csrf: string): Html {
  const id = m.id;
  const label = m.email ?? id;
  return html`<div class="actions">
  <form method="post" action="/portal/members/${id}/budget" class="inline">${csrfField(csrf)}
    <label class="sr-only" for="budget-${id}">Budget of ${label} in USD (empty: none)</label>
    <input id="budget-${id}" name="budget_usd" class="small" inputmode="decimal" placeholder="Budget USD" value="${m.budget ? microsToUsd(m.budget.amount_micros) : ""}">
    <label class="sr-only" for="period-${id}">Budget period</label>
    <select id="period-${id}" name="budget_period" class="small">${PERIODS.map(([v, l]) => html`<option value="${v}"${(m.budget?.period ?? "month") === v ? html` selected` : ""}>${l}</option>`)}</select>
    <button class="btn small" type="submit">Set budget</button></form>
  ${m.role !== "owner" && html`<form method="post" action="/portal/members/${id}/role" class="inline">${csrfField(csrf)}
    <label class="sr-only" for="role-${id}">Role of ${label}</label>
    <select id="role-${id}" name="role" class="small"><option value="member"${m.role === "member" ? html` selected` : ""}>Member</option><option value="admin"${m.role === "admin" ? html` selected` : ""}>Admin</option></select>
    <button class="btn small" type="submit">Change role</button></form>
  ${m.status === "invited" && html`<form method="post" action="/portal/members/${id}/invite">${csrfField(csrf)}<button class="btn small" type="submit">New link</button></form>`}
  <form method="post" action="/portal/members/${id}/remove" class="inline" data-confirm="Remove ${label}? They are signed out now; their keys stop at the time you chose." data-confirm-action="Remove member">${csrfField(csrf)}
    <label class="sr-only" for="grace-${id}">When ${label}'s keys stop working</label>
    <select id="grace-${id}" name="grace_seconds" class="small">${GRACE.map(([v, l]) => html`<option value="${v}">Keys stop: ${l}</option>`)}</select>
    <button class="btn small danger" type="submit">Remove</button></form>`}
</div>`;
}
