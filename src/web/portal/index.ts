import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { ApiError, errors } from "../../lib/errors";
import { microsToUsd, usdToMicros } from "../../money/units";
import { dayStart, field, fieldList } from "../forms";
import { html, htmlResponse, redirectResponse, type Html } from "../html";
import { errorPage, page } from "../layout";
import { redeemCode } from "../../modules/codes/service";
import { createKey, keyView, listKeys, revokeKey, rotateKey } from "../../modules/keys/service";
import { publicBase } from "../../identity/logins";
import { flashCookie, htmlErrors, isSecure, takeFlash, type PortalUser } from "../session";
import { Reveals } from "../../identity/sessions";
import { portalAuthRoutes } from "./auth-routes";
import { dailySeries, ledgerPage, ownKey, planOf, usageCsvStream, usagePage, type LedgerKinds } from "./service";
import { creditsView } from "./views/credits";
import { keysView } from "./views/keys";
import { overviewView, suspendedBanner } from "./views/overview";
import { quickstartView } from "./views/quickstart";
import { portalUsageView } from "./views/usage";
import { webAssets } from "../assets";

// A fresh object per route: Elysia writes the macro's hooks into the options object it is given,
// so a shared one would carry one app's hooks into the next (several apps run in one test process).
const hide = () => ({ portal: true, detail: { hide: true } }) as const;
const DAY_MS = 86_400_000;
const EXPIRY_DAYS = new Set(["7", "30", "90", "365"]);

/** The customer portal: server-rendered pages under /portal, signed in with a session cookie. */
export const portalModule = (deps: ModuleDeps) => {
  const safe = htmlErrors(deps, "/portal", { href: "/portal", label: "Back to the portal" });
  const actor = (u: PortalUser) => `portal:${u.account.id}`;
  const render = (request: Request, u: PortalUser, active: string, title: string, body: Html, o: { status?: number; chart?: boolean } = {}) => {
    const f = takeFlash(request);
    return htmlResponse(
      page({ area: "portal", title, active, who: u.email, csrf: u.session.csrf, flash: f.flash, chart: o.chart, body: html`${suspendedBanner(u.account)}${body}` }),
      o.status ?? 200,
      f.headers,
    );
  };
  const back = (request: Request, to: string, kind: "ok" | "error", message: string) =>
    redirectResponse(to, [flashCookie({ kind, message }, isSecure(deps, request))]);
  // Read-only while suspended: forms are shown disabled, and the portal macro refuses their posts.
  const suspended = (u: PortalUser) => u.account.status !== "active";
  const reveals = new Reveals<{ key: string; name: string; rotated: boolean }>(10 * 60_000, deps.now);
  const keysPage = (request: Request, u: PortalUser, extra: { created?: { key: string; name: string; rotated: boolean } | null }) =>
    render(request, u, "keys", "API keys", keysView({
      csrf: u.session.csrf,
      keys: listKeys(deps.store, u.account.id).map((k) => keyView(k, deps.now())),
      models: deps.config.models.map((m) => m.id),
      disabled: suspended(u),
      now: deps.now(),
      ...extra,
    }));

  return new Elysia()
    .use(webAssets)
    .use(deps.webAuth)
    .use(portalAuthRoutes(deps))
    // Someone opening the gateway's address in a browser wants the dashboard, not a JSON 404.
    .get("/", () => redirectResponse("/portal"), { detail: { hide: true } })
    .get("/portal", ({ request, user }) => safe(request, async () => {
      const keys = listKeys(deps.store, user.account.id).filter((k) => keyView(k, deps.now()).status === "active");
      return render(request, user, "overview", "Overview", overviewView({
        account: user.account,
        balance: deps.credits.balance(user.account.id),
        series: await dailySeries(deps.store, { accountId: user.account.id }, deps.now()),
        plan: planOf(deps.store, deps.config, user.account.id),
        keyCount: keys.length,
      }), { chart: true });
    }), hide())
    .get("/portal/keys", ({ request, user }) => safe(request, () => keysPage(request, user, { created: reveals.take(user.session.token) })), hide())
    .post("/portal/keys", ({ request, user, body }) => safe(request, () => {
      const models = fieldList(body, "models");
      const unknown = models.filter((m) => !deps.config.models.some((c) => c.id === m));
      const days = field(body, "expires_in_days");
      const cap = field(body, "spend_cap_usd").trim().replace(/^\$/, "");
      let capMicros: number | null = null;
      try {
        capMicros = cap ? usdToMicros(cap) : null;
      } catch {
        capMicros = -1;
      }
      const error = unknown.length ? `Unknown model: ${unknown.join(", ")}.`
        : days && !EXPIRY_DAYS.has(days) ? "Choose an expiry from the list."
        : capMicros !== null && capMicros <= 0 ? "The spending cap must be a positive amount in USD, e.g. 25 or 12.50."
        : field(body, "name").length > 200 ? "The name is too long (200 characters at most)."
        : null;
      if (error) return back(request, "/portal/keys", "error", error);
      const now = deps.now();
      const { row, key } = createKey(deps.store, deps.config.key_prefix, user.account.id, {
        name: field(body, "name").trim(),
        models: models.length ? models : null,
        expires_at: days ? Math.floor((now + Number(days) * DAY_MS) / 1000) : null,
        spend_cap_micros: capMicros,
      }, actor(user), now);
      // Post/redirect/get: the key is shown once by the next page, and a reload creates nothing.
      reveals.put(user.session.token, { key, name: row.name, rotated: false });
      return redirectResponse("/portal/keys");
    }), hide())
    .post("/portal/keys/:id/rotate", ({ request, user, params, body }) => safe(request, () => {
      const grace = Number(field(body, "grace_seconds") || 0);
      if (![0, 3600, 86400, 604800].includes(grace)) return back(request, "/portal/keys", "error", "Choose when the old key should stop working.");
      try {
        ownKey(deps.store, user.account.id, params.id);
        const { row, key } = rotateKey(deps.store, params.id, grace, actor(user), deps.now());
        reveals.put(user.session.token, { key, name: row.name, rotated: true });
        return redirectResponse("/portal/keys");
      } catch (e) {
        if (e instanceof ApiError && e.status < 500) return back(request, "/portal/keys", "error", e.message);
        throw e;
      }
    }), hide())
    .post("/portal/keys/:id/revoke", ({ request, user, params }) => safe(request, () => {
      try {
        const k = ownKey(deps.store, user.account.id, params.id);
        revokeKey(deps.store, k.id, actor(user), deps.now());
        return back(request, "/portal/keys", "ok", `Key “${k.name || `${k.prefix}…${k.last4}`}” revoked: it no longer works.`);
      } catch (e) {
        if (e instanceof ApiError && e.status < 500) return back(request, "/portal/keys", "error", e.message);
        throw e;
      }
    }), hide())
    .get("/portal/usage", ({ request, user, query }) => safe(request, async () => {
      const { filter, values, search } = usageFilter(query, user);
      const keys = listKeys(deps.store, user.account.id);
      const names = new Map(keys.map((k) => [k.id, k.name || `${k.prefix}…${k.last4}`]));
      const before = typeof query.before === "string" ? query.before : undefined;
      const data = await usagePage(deps.store, filter, 50, before);
      return render(request, user, "usage", "Usage", portalUsageView({
        values,
        models: deps.config.models.map((m) => ({ value: m.id, label: m.id })),
        keys: keys.map((k) => ({ value: k.id, label: names.get(k.id)! })),
        totals: data.totals,
        rows: data.rows,
        next: data.nextCursor,
        query: search,
        keyName: (id) => (id ? names.get(id) ?? id : "—"),
      }));
    }), hide())
    .get("/portal/usage.csv", ({ request, user, query }) => safe(request, () => {
      const { filter } = usageFilter(query, user);
      const day = new Date(deps.now()).toISOString().slice(0, 10);
      return new Response(usageCsvStream(deps.store, filter, microsToUsd), {
        headers: {
          "content-type": "text/csv; charset=utf-8",
          "content-disposition": `attachment; filename="tollgate-usage-${day}.csv"`,
          "cache-control": "no-store",
        },
      });
    }), hide())
    .get("/portal/credits", ({ request, user, query }) => safe(request, () => creditsPage(request, user, query)), hide())
    .post("/portal/credits/redeem", ({ request, user, body }) => safe(request, () => {
      try {
        const r = redeemCode(deps.store, user.account.id, field(body, "code"), actor(user), deps.now());
        const amount = `$${microsToUsd(r.entry.amount_micros)}`;
        return back(request, "/portal/credits", "ok", r.replayed ? `You already redeemed this code (${amount}).` : `Code redeemed: ${amount} added to your balance.`);
      } catch (e) {
        // Post/redirect/get: the message shows as a flash on the credits page.
        if (e instanceof ApiError && e.status < 500) return back(request, "/portal/credits", "error", e.message);
        throw e;
      }
    }), hide())
    .get("/portal/quickstart", ({ request, user }) => safe(request, () => {
      const keys = listKeys(deps.store, user.account.id).map((k) => keyView(k, deps.now()));
      const active = keys.filter((k) => k.status === "active");
      const model = active.find((k) => k.models)?.models?.[0] ?? deps.config.models[0]?.id ?? "grok-4";
      return render(request, user, "quickstart", "Quickstart", quickstartView({ baseUrl: `${publicBase(deps, request)}/v1`, model, hasKey: active.length > 0 }));
    }), hide())
    .get("/portal/*", ({ request }) => safe(request, () => {
      throw errors.notFound("Page");
    }), hide())

  function creditsPage(request: Request, user: PortalUser, query: Record<string, unknown>) {
    const kinds = (["credits", "charges"].includes(String(query.kinds)) ? String(query.kinds) : "") as LedgerKinds;
    const before = Number(query.before) > 0 ? Number(query.before) : undefined;
    const { rows, next } = ledgerPage(deps.store, user.account.id, { kinds, before, limit: 50 });
    const body = creditsView({
      csrf: user.session.csrf, balance: deps.credits.balance(user.account.id), rows, kinds, next, disabled: suspended(user),
    });
    return render(request, user, "credits", "Credits", body);
  }

  function usageFilter(query: Record<string, unknown>, user: PortalUser) {
    const values = {
      model: typeof query.model === "string" ? query.model : "",
      key: typeof query.key === "string" ? query.key : "",
      from: typeof query.from === "string" ? query.from : "",
      to: typeof query.to === "string" ? query.to : "",
    };
    const from = dayStart(values.from);
    const to = dayStart(values.to);
    const search = new URLSearchParams(Object.entries(values).filter(([, v]) => v));
    if (typeof query.before === "string") search.set("before", query.before);
    return {
      values,
      search,
      // The account comes from the session, never from the query.
      filter: {
        accountId: user.account.id,
        model: values.model || undefined,
        keyId: values.key || undefined,
        from: from ?? undefined,
        to: to === null ? undefined : to + DAY_MS,
      },
    };
  }
};
