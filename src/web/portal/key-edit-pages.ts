import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { ApiError } from "../../lib/errors";
import { effectivePlan } from "../../gateway/limits/plans";
import { MAX_BALANCE_MICROS, microsToUsd } from "../../money/units";
import { getAccountRow } from "../../modules/accounts/service";
import type { UpdateKeyInput } from "../../modules/keys/model";
import { keyReplaces, type KeyRow } from "../../modules/keys/service";
import { keyOverrides, newestOfLine, updateKey } from "../../modules/keys/update";
import { date } from "../format";
import { dayStart, field, fieldList, nameProblem, typedUsd } from "../forms";
import { submitted, type Refused } from "../refused";
import type { PortalUser } from "../session";
import { visibleKey } from "./key-access";
import { hide, portalKit } from "./page-kit";
import { keyEditView, type KeyEditValues } from "./views/key-edit";

/** Editing a key in place (no rotation): the member's own keys, or any for owners and admins. */
export const keyEditPages = (deps: ModuleDeps) => {
  const kit = portalKit(deps);
  const current = async (u: PortalUser, id: string) => {
    const key = await visibleKey(deps.store, u, id);
    if (key.revokedAt !== null) throw new ApiError(400, "This key is revoked: it cannot be changed.", "invalid_request_error", "key_inactive");
    return { key, line: await newestOfLine(deps.store, key) };
  };
  /** The form: the key as it is, or (refused, status 400) as it was submitted with what is wrong. */
  const editPage = async (request: Request, u: PortalUser, key: KeyRow, line: KeyRow, refused?: Refused) => {
    const plan = effectivePlan(deps.config, (await getAccountRow(deps.store, u.account.id)).plan);
    return kit.render(request, u, "keys", "Edit key", keyEditView({
      csrf: u.session.csrf, key: await valuesOf(deps, key, line), models: deps.config.models.map((m) => m.id), plan,
      timeZone: deps.credits.budgetClock.timeZone, rotated: line.id !== key.id || (await keyReplaces(deps.store, key.id)), refused,
    }), { status: refused ? 400 : 200 });
  };
  return new Elysia()
    .use(deps.webAuth)
    .get("/portal/keys/:id/edit", ({ request, user, params }) => kit.safe(request, async () => {
      const { key, line } = await current(user, params.id);
      return editPage(request, user, key, line);
    }), hide())
    .post("/portal/keys/:id/edit", ({ request, user, params, body }) => kit.safe(request, async () => {
      const { key, line } = await current(user, params.id);
      // Refused: the form again with what was typed (not the key as stored), the message next to its field.
      const refuse = (p: Problem) => editPage(request, user, key, line, { values: submitted(body, EDIT_FIELDS, ["models"]), ...p });
      const form = readEditForm(deps, body, await valuesOf(deps, key, line));
      if ("message" in form) return refuse(form);
      try {
        await updateKey(deps.store, key.id, form, { actor: kit.actor(user), now: deps.now(), policy: deps.config, models: deps.config.models.map((m) => m.id) });
      } catch (e) {
        if (e instanceof ApiError && e.status < 500) return refuse({ field: FIELD_OF_PARAM[e.param ?? ""] ?? "form", message: e.message });
        throw e;
      }
      const what = Object.keys(form).length === 0 ? "Nothing to change" : "Saved: the key uses its new settings from its next request";
      return kit.back(request, "/portal/keys", "ok", `${what} (“${key.name || `${key.prefix}…${key.last4}`}”).`);
    }), hide());
};

async function valuesOf(deps: ModuleDeps, key: KeyRow, line: KeyRow): Promise<KeyEditValues> {
  return {
    id: key.id, name: key.name, display: `${key.prefix}…${key.last4}`, models: key.models, expiresAt: key.expiresAt,
    capMicros: line.spendCapMicros, budget: line.budgetMicros !== null && line.budgetPeriod !== null ? { period: line.budgetPeriod, micros: line.budgetMicros } : null,
    limits: await keyOverrides(deps.store, key.id),
  };
}

/** The edit form's fields kept when it is refused (the models: every one checked). */
const EDIT_FIELDS = ["name", "expires_on", "spend_cap_usd", "budget_usd", "budget_period", "rpm", "tpm", "concurrency"] as const;
/** The form field of an update the service refused, by the API's parameter. */
const FIELD_OF_PARAM: Record<string, string> = {
  name: "name", models: "models", expires_at: "expires_on", spend_cap_micros: "spend_cap_usd", budget: "budget_usd", rpm: "rpm", tpm: "tpm", concurrency: "concurrency",
};
type Problem = { field: string; message: string };

const money = (v: string): number | null | "bad" => {
  const t = v.trim();
  if (!t) return null;
  try {
    const m = typedUsd(t);
    return m > 0 ? m : "bad";
  } catch {
    return "bad";
  }
};

/**
 * The changes the form asks for, compared with the key as it is (only what differs goes into
 * the update and its audit entry), or the first thing wrong with the form.
 */
function readEditForm(deps: ModuleDeps, body: unknown, was: KeyEditValues): UpdateKeyInput | Problem {
  const out: UpdateKeyInput = {};
  const name = field(body, "name").trim();
  const problem = nameProblem(name);
  if (problem) return { field: "name", message: problem };
  if (name !== was.name) out.name = name;
  const models = fieldList(body, "models");
  const next = models.length ? models : null;
  if (JSON.stringify(next) !== JSON.stringify(was.models)) out.models = next;
  const day = field(body, "expires_on");
  if (day !== (was.expiresAt === null ? "" : date(was.expiresAt))) {
    const ms = day ? dayStart(day) : null;
    if (day && ms === null) return { field: "expires_on", message: "Choose an expiry date, or leave it empty for never." };
    out.expires_at = ms === null ? null : ms / 1000;
  }
  const cap = money(field(body, "spend_cap_usd"));
  if (cap === "bad") return { field: "spend_cap_usd", message: "The spending cap must be a positive amount in USD, e.g. 25 or 12.50 (or empty for none)." };
  if (cap !== was.capMicros) out.spend_cap_micros = cap;
  const budget = money(field(body, "budget_usd"));
  const period = field(body, "budget_period") || "month";
  if (budget === "bad") return { field: "budget_usd", message: "The budget must be a positive amount in USD, e.g. 50 (or empty for none)." };
  // The API shows budgets up to this much only: more would break every answer naming the key.
  if (budget !== null && budget > MAX_BALANCE_MICROS) return { field: "budget_usd", message: `The budget can be at most ${microsToUsd(MAX_BALANCE_MICROS)} USD.` };
  if (period !== "day" && period !== "week" && period !== "month") return { field: "budget_period", message: "Choose the budget's period from the list." };
  if (budget !== (was.budget?.micros ?? null) || (budget !== null && period !== was.budget?.period)) {
    out.budget = budget === null ? null : { period, amount_micros: budget };
  }
  for (const l of ["rpm", "tpm", "concurrency"] as const) {
    const v = field(body, l).trim();
    if (v && !/^\d+$/.test(v)) return { field: l, message: `${l}: enter a whole number, or leave it empty for the plan's.` };
    const n = v ? Number(v) : null;
    if (n === 0) return { field: l, message: `${l}: enter at least 1, or leave it empty for the plan's.` };
    if (n !== was.limits[l]) out[l] = n;
  }
  return out;
}
