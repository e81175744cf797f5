import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { ApiError } from "../../lib/errors";
import { field, fieldList, nameProblem, typedUsd } from "../forms";
import { submitted, type Refused } from "../refused";
import { redirectResponse } from "../html";
import type { PortalUser } from "../session";
import { Reveals } from "../../identity/reveals";
import { budgetsForShow } from "../../money/credit-store";
import { createKey, keyView, revokeKey, rotateServedKey } from "../../modules/keys/service";
import { listMemberRows } from "../../identity/members";
import { DAY_MS, hide, portalKit, seesAll, type PortalKit } from "./page-kit";
import { mayRotate, rotatableKey, rotationLines, visibleKey, visibleKeys } from "./key-access";
import { keysView, type KeyBudget } from "./views/keys";

const EXPIRY_DAYS = new Set(["7", "30", "90", "365"]);
/** A new key, shown once by the next page (every one made since it was last shown). */
type Reveal = { key: string; name: string; rotated: boolean };

/**
 * The customer's API keys (a member's own, or all for owners and admins): list, create, rotate and
 * revoke. Rotating is for the key's maker or the owner (it shows the new secret; see mayRotate).
 */
export const keysPages = (deps: ModuleDeps) => {
  const kit = portalKit(deps);
  const { safe, back, actor } = kit;
  const reveals = new Reveals<Reveal>(deps.store, "key", deps.now);
  // A refused change (not the customer's key, already revoked, ...) goes back to the list with the message.
  const orBack = (request: Request, e: unknown) => {
    if (e instanceof ApiError && e.status < 500) return back(request, "/portal/keys", "error", e.message);
    throw e;
  };

  return new Elysia()
    .use(deps.webAuth)
    .get("/portal/keys", ({ request, user }) => safe(request, async () => keysPage(deps, kit, request, user, { created: await reveals.take(user.session.token) })), hide())
    .post("/portal/keys", ({ request, user, body }) => safe(request, async () => {
      const form = readKeyForm(deps, body);
      // Refused: the form again with what was typed, and the message next to the wrong field.
      if (form.error) return keysPage(deps, kit, request, user, { refused: { values: submitted(body, KEY_FIELDS, ["models"]), ...form.error } }, 400);
      const now = deps.now();
      // The key is the member's who made it (their usage, their budget, removed with them).
      const { row, key } = await createKey(deps.store, deps.config.key_prefix, user.account.id, {
        name: form.name,
        models: form.models.length ? form.models : null,
        expires_at: form.days ? Math.floor((now + Number(form.days) * DAY_MS) / 1000) : null,
        spend_cap_micros: form.capMicros,
      }, actor(user), now, user.member.id);
      // Post/redirect/get: the key is shown once by the next page, and a reload creates nothing.
      await reveals.put(user.session.token, { key, name: row.name, rotated: false });
      return redirectResponse("/portal/keys");
    }), hide())
    .post("/portal/keys/:id/rotate", ({ request, user, params, body }) => safe(request, async () => {
      const grace = Number(field(body, "grace_seconds") || 0);
      if (![0, 3600, 86400, 604800].includes(grace)) return back(request, "/portal/keys", "error", "Choose when the old key should stop working.");
      try {
        await rotatableKey(deps.store, user, params.id);
        const { row, key } = await rotateServedKey(deps, params.id, grace, actor(user), deps.now());
        await reveals.put(user.session.token, { key, name: row.name, rotated: true });
        return redirectResponse("/portal/keys");
      } catch (e) {
        return orBack(request, e);
      }
    }), hide())
    .post("/portal/keys/:id/revoke", ({ request, user, params }) => safe(request, async () => {
      try {
        const k = await visibleKey(deps.store, user, params.id);
        await revokeKey(deps.store, k.id, actor(user), deps.now());
        return back(request, "/portal/keys", "ok", `Key “${k.name || `${k.prefix}…${k.last4}`}” revoked: it no longer works.`);
      } catch (e) {
        return orBack(request, e);
      }
    }), hide());
};

async function keysPage(deps: ModuleDeps, kit: PortalKit, request: Request, u: PortalUser, extra: { created?: Reveal[]; refused?: Refused }, status = 200) {
  const keys = await visibleKeys(deps.store, u);
  const budgets = new Map<string, KeyBudget>();
  const lines = rotationLines(keys);
  // One read of every line's budget (PostgreSQL: this instance knows only those it has leased).
  const lookup = await budgetsForShow(deps.credits, lines.map((line) => ({ capKeyId: line.newest.id, memberId: null })));
  for (const line of lines) {
    const b = lookup({ capKeyId: line.newest.id, memberId: null })[0];
    if (b) for (const k of line.keys) budgets.set(k.id, { period: b.period, limit: b.limit, remaining: b.remaining });
  }
  const emails = new Map((await listMemberRows(deps.store, u.account.id, { removed: true })).map((m) => [m.id, m.email ?? m.id]));
  return kit.render(request, u, "keys", "API keys", keysView({
    csrf: u.session.csrf,
    keys: keys.map((k) => keyView(k, deps.now())),
    models: deps.config.models.map((m) => m.id),
    disabled: kit.suspended(u),
    now: deps.now(),
    owners: seesAll(u) ? (k) => (k.member_id ? (emails.get(k.member_id) ?? k.member_id) : "Owner") : undefined,
    rotatable: new Set(keys.filter((k) => mayRotate(u, k)).map((k) => k.id)),
    budgets,
    ...extra,
  }), { status });
}

/** The new-key form's fields kept when it is refused (the models: every one checked). */
const KEY_FIELDS = ["name", "expires_in_days", "spend_cap_usd"] as const;

/** The new-key form: name, models, expiry and spending cap, with the first thing wrong with it and its field (or null). */
function readKeyForm(deps: ModuleDeps, body: unknown) {
  // Trimmed before any check, as the API does: padding is not part of the name, nor of its length.
  const name = field(body, "name").trim();
  const models = [...new Set(fieldList(body, "models"))];
  const unknown = models.filter((m) => !deps.config.models.some((c) => c.id === m));
  const days = field(body, "expires_in_days");
  const cap = field(body, "spend_cap_usd").trim();
  let capMicros: number | null = null;
  try {
    capMicros = cap ? typedUsd(cap) : null;
  } catch {
    capMicros = -1;
  }
  const problem = nameProblem(name);
  const error = unknown.length ? { field: "models", message: `Unknown model: ${unknown.join(", ")}.` }
    : days && !EXPIRY_DAYS.has(days) ? { field: "expires_in_days", message: "Choose an expiry from the list." }
    : capMicros !== null && capMicros <= 0 ? { field: "spend_cap_usd", message: "The spending cap must be a positive amount in USD, e.g. 25 or 12.50." }
    : problem ? { field: "name", message: problem }
    : null;
  return { error, name, models, days, capMicros };
}
