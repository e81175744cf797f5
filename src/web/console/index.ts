import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { errors } from "../../lib/errors";
import { randomBase62 } from "../../lib/ids";
import { usdToMicros } from "../../money/units";
import { dayStart, field } from "../forms";
import { htmlResponse, redirectResponse, type Html } from "../html";
import { errorPage, page, type Flash } from "../layout";
import { accountView as apiAccountView, createAccount, getAccountRow, listAccounts, updateAccount } from "../../modules/accounts/service";
import { listAudit } from "../../modules/audit/service";
import { codeView, createCodes, listBatches, listCodes } from "../../modules/codes/service";
import { keyView, listKeys, revokeKey, getKeyRow } from "../../modules/keys/service";
import { listLedger, postCredit } from "../../money/ledger";
import { publicBase } from "../../identity/logins";
import { createInvite, getLogin } from "../../identity/logins/service";
import { planOf } from "../portal/service";
import { setAccountPlan } from "../../modules/ratelimit/service";
import { flashCookie, htmlErrors, isSecure, takeFlash } from "../session";
import { Reveals } from "../../identity/sessions";
import { dailyUsage, listUsage, totalsOf, type UsageFilter } from "../../modules/usage/service";
import { keysOf } from "../../gateway/upstream/registry";
import { listUpstreams } from "../../modules/upstreams/service";
import { consoleAuthRoutes } from "./auth-routes";
import { probeProvider, trafficSince, usageByAccount, type ProbeResult } from "./service";
import { accountsView, accountView, type AccountDetail } from "./views/accounts";
import { auditView, codesView, healthView, modelsView } from "./views/other";
import { consoleUsageView } from "./views/usage";

// A fresh object per route: Elysia writes the macro's hooks into the options object it is given,
// so a shared one would carry one app's hooks into the next (several apps run in one test process).
const hide = () => ({ console: true, detail: { hide: true } }) as const;
const DAY_MS = 86_400_000;
type Op = { session: { csrf: string; token: string }; actor: string };

/** The operator console: server-rendered pages under /console, signed in with the admin token. */
export const consoleModule = (deps: ModuleDeps) => {
  const safe = htmlErrors(deps, "/console", { href: "/console/accounts", label: "Back to the console" });
  const render = (request: Request, op: Op, active: string, title: string, body: Html, status = 200) => {
    const f = takeFlash(request);
    return htmlResponse(page({ area: "console", title, active, who: "Operator", csrf: op.session.csrf, flash: f.flash, body }), status, f.headers);
  };
  const back = (request: Request, to: string, kind: Flash["kind"], message: string) =>
    redirectResponse(to, [flashCookie({ kind, message }, isSecure(deps, request))]);
  const view = (id: string) => apiAccountView(getAccountRow(deps.store, id), deps.credits.balance(id).held);
  const plans = () => Object.keys(deps.config.plans);
  const money = (v: string): number | null => {
    try {
      return usdToMicros(v.trim().replace(/^\$/, "").replace(/^\+/, ""));
    } catch {
      return null;
    }
  };
  const invites = new Reveals<NonNullable<AccountDetail["invite"]>>(10 * 60_000, deps.now);
  const newCodes = new Reveals<{ codes: string[]; amount: number }>(10 * 60_000, deps.now);
  const detail = async (request: Request, op: Op, id: string) => {
    const invite = invites.take(op.session.token);
    const account = view(id);
    const login = getLogin(deps.store, id);
    const since = Math.floor(deps.now() / DAY_MS) * DAY_MS - 29 * DAY_MS;
    const t = totalsOf(await dailyUsage(deps.store, { accountId: id, from: since }));
    return render(request, op, "accounts", account.name, accountView({
      csrf: op.session.csrf,
      account,
      login: login && { email: login.email, lastLoginAt: login.lastLoginAt },
      plans: plans(),
      limits: planOf(deps.store, deps.config, id)?.limits ?? null,
      keys: listKeys(deps.store, id).map((k) => keyView(k, deps.now())),
      ledger: listLedger(deps.store, id, { limit: 15 }),
      usage30: { requests: t.requests, tokens: t.prompt_tokens + t.completion_tokens, cost: t.cost_micros },
      invite: invite?.account_id === id ? invite : null,
      idem: randomBase62(24),
    }));
  };
  const codesPage = (request: Request, op: Op, batch: string, extra: { created?: { codes: string[]; amount: number } | null } = {}) =>
    render(request, op, "codes", "Credit codes", codesView({
      csrf: op.session.csrf,
      batches: listBatches(deps.store),
      batch,
      codes: batch ? listCodes(deps.store, { batch, limit: 1000, offset: 0 }, deps.now()).map((c) => codeView(c, deps.now())) : null,
      ...extra,
    }));
  const healthPage = async (request: Request, op: Op, probe?: ProbeResult) => {
    const now = deps.now();
    const hour = await trafficSince(deps.store, now - 3_600_000);
    const day = await trafficSince(deps.store, now - DAY_MS);
    return render(request, op, "health", "Upstream health", healthView({ csrf: op.session.csrf, upstreams: listUpstreams(deps.upstreams), hour, day, probe }));
  };

  return new Elysia()
    .use(deps.webAuth)
    .use(consoleAuthRoutes(deps))
    .get("/console", () => redirectResponse("/console/accounts"), hide())
    .get("/console/accounts", ({ request, operator, query }) => safe(request, () => {
      const q = typeof query.q === "string" ? query.q.trim() : "";
      const offset = Math.max(0, Number(query.offset) || 0);
      const rows = listAccounts(deps.store, { limit: 51, offset, q: q || undefined });
      return render(request, operator, "accounts", "Accounts", accountsView({
        csrf: operator.session.csrf, q, plans: plans(), offset, hasMore: rows.length > 50,
        accounts: rows.slice(0, 50).map((r) => apiAccountView(r, deps.credits.balance(r.id).held)),
      }));
    }), hide())
    .post("/console/accounts", ({ request, operator, body }) => safe(request, () => {
      const name = field(body, "name").trim();
      const email = field(body, "email").trim().toLowerCase();
      const plan = field(body, "plan") || undefined;
      const credit = field(body, "credit_usd").trim();
      const micros = credit ? money(credit) : 0;
      if (!name) return back(request, "/console/accounts", "error", "Enter a name for the account.");
      if (email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return back(request, "/console/accounts", "error", "Enter a valid email address.");
      if (plan && !plans().includes(plan)) return back(request, "/console/accounts", "error", "Choose a configured plan.");
      if (micros === null || micros < 0) return back(request, "/console/accounts", "error", "The starting credit must be an amount in USD, e.g. 25 or 12.50.");
      const row = createAccount(deps.store, { name, email: email || undefined, plan }, operator.actor, deps.now());
      if (micros > 0) postCredit(deps.store, { accountId: row.id, amountMicros: micros, note: "Starting credit", actor: operator.actor, heldMicros: 0 }, deps.now());
      return back(request, `/console/accounts/${row.id}`, "ok", `Account “${name}” created. Create an invite link to let the customer sign in.`);
    }), hide())
    .get("/console/accounts/:id", ({ request, operator, params }) => safe(request, () => detail(request, operator, params.id)), hide())
    .post("/console/accounts/:id/credits", ({ request, operator, params, body }) => safe(request, () => {
      const to = `/console/accounts/${params.id}`;
      const amount = money(field(body, "amount_usd"));
      if (amount === null || amount === 0) return back(request, to, "error", "Enter a non-zero amount in USD, e.g. 25 or -3.50.");
      const { entry, replayed } = postCredit(deps.store, {
        accountId: params.id, amountMicros: amount, note: field(body, "note").trim().slice(0, 500) || null, actor: operator.actor,
        heldMicros: deps.credits.balance(params.id).held, idempotencyKey: field(body, "idem") ? `console:${field(body, "idem")}` : undefined,
      }, deps.now());
      if (replayed) return back(request, to, "warn", "This form was already submitted; nothing was posted twice.");
      return back(request, to, "ok", `${entry.kind === "topup" ? "Top-up" : "Adjustment"} of $${entry.amount_usd} posted.`);
    }), hide())
    .post("/console/accounts/:id/plan", ({ request, operator, params, body }) => safe(request, () => {
      const p = setAccountPlan(deps.store, deps.config, params.id, field(body, "plan"), operator.actor, deps.now());
      return back(request, `/console/accounts/${params.id}`, "ok", `Plan set to ${p.plan}.`);
    }), hide())
    .post("/console/accounts/:id/status", ({ request, operator, params, body }) => safe(request, () => {
      const status = field(body, "status") === "active" ? "active" : "suspended";
      updateAccount(deps.store, params.id, { status }, operator.actor);
      return back(request, `/console/accounts/${params.id}`, status === "active" ? "ok" : "warn",
        status === "active" ? "Account reactivated: its keys work again." : "Account suspended: its keys are refused from now on.");
    }), hide())
    .post("/console/accounts/:id/invite", ({ request, operator, params }) => safe(request, () => {
      const invite = createInvite(deps.store, {
        accountId: params.id, ttlMs: deps.config.invite_ttl_hours * 3_600_000, actor: operator.actor, baseUrl: publicBase(deps, request),
      }, deps.now());
      // Post/redirect/get: the link is shown once by the next page, and a reload creates nothing.
      invites.put(operator.session.token, invite);
      return redirectResponse(`/console/accounts/${params.id}`);
    }), hide())
    .post("/console/keys/:id/revoke", ({ request, operator, params }) => safe(request, () => {
      const k = getKeyRow(deps.store, params.id);
      revokeKey(deps.store, k.id, operator.actor, deps.now());
      return back(request, `/console/accounts/${k.accountId}`, "ok", `Key ${k.prefix}…${k.last4} revoked.`);
    }), hide())
    .get("/console/codes", ({ request, operator, query }) => safe(request, () =>
      codesPage(request, operator, typeof query.batch === "string" ? query.batch : "", { created: newCodes.take(operator.session.token) })), hide())
    .post("/console/codes", ({ request, operator, body }) => safe(request, () => {
      const count = Number(field(body, "count"));
      const amount = money(field(body, "amount_usd"));
      const expires = field(body, "expires") ? dayStart(field(body, "expires")) : null;
      const error = !Number.isInteger(count) || count < 1 || count > 1000 ? "Create between 1 and 1000 codes at a time."
        : amount === null || amount <= 0 ? "Enter what each code is worth in USD, e.g. 10."
        : field(body, "expires") && (expires === null || expires + DAY_MS <= deps.now()) ? "The expiry date must be in the future."
        : null;
      if (error) return back(request, "/console/codes", "error", error);
      const b = createCodes(deps.store, {
        count, amount_micros: amount!, note: field(body, "note").trim().slice(0, 200) || undefined,
        // A code is valid through the whole expiry day (UTC).
        expires_at: expires === null ? null : Math.floor((expires + DAY_MS) / 1000),
      }, operator.actor, deps.now());
      newCodes.put(operator.session.token, { codes: b.codes.map((c) => c.code), amount: amount! });
      return redirectResponse(`/console/codes?batch=${b.batch}`);
    }), hide())
    .get("/console/usage", ({ request, operator, query }) => safe(request, async () => {
      const str = (k: string) => (typeof query[k] === "string" ? (query[k] as string) : "");
      const values = { account: str("account"), model: str("model"), from: str("from"), to: str("to") };
      const from = dayStart(values.from);
      const to = dayStart(values.to);
      const filter: UsageFilter = {
        accountId: values.account || undefined, model: values.model || undefined,
        from: from ?? undefined, to: to === null ? undefined : to + DAY_MS,
      };
      const search = new URLSearchParams(Object.entries(values).filter(([, v]) => v));
      if (str("before")) search.set("before", str("before"));
      const page = listUsage(deps.store, filter, 50, str("before") || undefined);
      const daily = await dailyUsage(deps.store, filter);
      const byAccount = await usageByAccount(deps.store, filter);
      const accounts = listAccounts(deps.store, { limit: 500, offset: 0 });
      const names = new Map(accounts.map((a) => [a.id, a.name]));
      return render(request, operator, "usage", "Usage", consoleUsageView({
        values, query: search, names, daily, rows: page.rows, next: page.nextCursor, totals: totalsOf(daily),
        byAccount,
        accounts: accounts.map((a) => ({ value: a.id, label: a.name })),
        models: deps.config.models.map((m) => ({ value: m.id, label: m.id })),
      }));
    }), hide())
    .get("/console/models", ({ request, operator }) => safe(request, () => render(request, operator, "models", "Models and prices", modelsView(deps.config))), hide())
    .get("/console/health", ({ request, operator }) => safe(request, () => healthPage(request, operator)), hide())
    .post("/console/health/probe", async ({ request, operator, body }) => safe(request, async () => {
      const [id, n] = field(body, "upstream").split("#");
      const p = deps.config.providers.find((x) => x.id === id);
      const key = p ? keysOf(p)[Number(n) - 1] : undefined;
      if (!p || !Number.isInteger(Number(n)) || Number(n) < 1 || Number(n) > keysOf(p).length) return back(request, "/console/health", "error", "Unknown upstream.");
      return healthPage(request, operator, await probeProvider(p, key, `${id}#${n}`));
    }), hide())
    .get("/console/*", ({ request }) => safe(request, () => {
      throw errors.notFound("Page");
    }), hide())
    .get("/console/audit", ({ request, operator, query }) => safe(request, () => {
      const target = typeof query.target === "string" ? query.target.trim() : "";
      const before = Number(query.before) > 0 ? Number(query.before) : undefined;
      const rows = listAudit(deps.store, { limit: 51, before, targetId: target || undefined });
      return render(request, operator, "audit", "Audit log", auditView({
        rows: rows.slice(0, 50), target, next: rows.length > 50 ? rows[49]!.id : null,
      }));
    }), hide())
};
