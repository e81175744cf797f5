import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { errors } from "../../lib/errors";
import { randomBase62 } from "../../lib/ids";
import { queryInt } from "../../lib/query-int";
import { field, nameProblem } from "../forms";
import { submitted, type Refused } from "../refused";
import { redirectResponse } from "../html";
import { accountViews, insertAccount, listAccounts, updateAccount, type AccountRow } from "../../modules/accounts/service";
import { keyView, listKeys, revokeKey, getKeyRow } from "../../modules/keys/service";
import { applyCredit, listLedger } from "../../money/ledger";
import { postWatchedCredit } from "../../modules/alerts/credits";
import { publicBase } from "../../identity/logins";
import { Email } from "../../identity/logins/model";
import { createInvite, getLogin } from "../../identity/logins/service";
import { listMemberRows } from "../../identity/members";
import { Reveals } from "../../identity/reveals";
import { planOf } from "../portal/service";
import { setAccountPlan } from "../../modules/ratelimit/service";
import { dailyUsage, totalsOf } from "../../modules/usage/service";
import { consoleKit, DAY_MS, hide, money, type ConsoleKit, type Op } from "./page-kit";
import { accountsView, accountView, type AccountDetail } from "./views/accounts";

type Invites = Reveals<NonNullable<AccountDetail["invite"]>>;

/** Accounts: the list, a new account, one account's page and what the operator changes on it. */
export const accountsPages = (deps: ModuleDeps) => {
  // An invite link is shown once, by its account's page only (kept for that page: `of` the account).
  const invites: Invites = new Reveals(deps.store, "account-invite", deps.now);
  return new Elysia().use(accountListPages(deps, invites)).use(accountForms(deps, invites));
};

/** The list (search, paging), creating an account, and one account's page. */
const accountListPages = (deps: ModuleDeps, invites: Invites) => {
  const kit = consoleKit(deps);
  const { safe, back, plans } = kit;
  /** The list page; with `refused`, the new-account form as submitted and status 400. */
  const listPage = async (request: Request, op: Op, o: { q: string; offset: number; refused?: Refused }) => {
    const rows = await listAccounts(deps.store, { limit: 51, offset: o.offset, q: o.q || undefined });
    return kit.render(request, op, "accounts", "Accounts", accountsView({
      csrf: op.session.csrf, q: o.q, plans: plans(), offset: o.offset, hasMore: rows.length > 50,
      accounts: await accountViews(deps.credits, rows.slice(0, 50)), refused: o.refused,
    }), o.refused ? 400 : 200);
  };
  return new Elysia()
    .use(deps.webAuth)
    .get("/console/accounts", ({ request, operator, query }) => safe(request, () =>
      listPage(request, operator, { q: typeof query.q === "string" ? query.q.trim() : "", offset: offsetOf(query.offset) })), hide())
    .post("/console/accounts", ({ request, operator, body }) => safe(request, async () => {
      const name = field(body, "name").trim();
      const email = field(body, "email").trim().toLowerCase();
      const plan = field(body, "plan") || undefined;
      const credit = field(body, "credit_usd").trim();
      const micros = credit ? money(credit) : 0;
      const problem = !name ? { field: "name", message: "Enter a name for the account." }
        : nameProblem(name) ? { field: "name", message: nameProblem(name)! }
        // The rule of the API and of the invite's acceptance form.
        : email && !Email.safeParse(email).success ? { field: "email", message: "Enter a valid email address." }
        : plan && !plans().includes(plan) ? { field: "plan", message: "Choose a configured plan." }
        : micros === null || micros < 0 ? { field: "credit_usd", message: "The starting credit must be an amount in USD, e.g. 25 or 12.50." }
        : null;
      // Refused: the form again with what was typed, and the message next to the wrong field.
      if (problem) return listPage(request, operator, { q: "", offset: 0, refused: { values: submitted(body, ["name", "email", "plan", "credit_usd"]), ...problem } });
      const row = await createWithCredit(deps, { name, email: email || undefined, plan }, micros!, operator.actor);
      return back(request, `/console/accounts/${row.id}`, "ok", `Account “${name}” created. Create an invite link to let the customer sign in.`);
    }), hide())
    .get("/console/accounts/:id", ({ request, operator, params }) => safe(request, () => accountPage(deps, kit, invites, request, operator, params.id)), hide());
};

/** The list's `offset` as the API reads it (0 when absent); anything else is a 400 page, never a 500 from the database. */
function offsetOf(raw: unknown): number {
  if (raw === undefined || raw === "") return 0;
  const offset = queryInt(0, Number.MAX_SAFE_INTEGER).safeParse(raw);
  if (!offset.success) throw errors.badRequest("The page's offset must be a whole number from 0 to 9007199254740991.", "offset");
  return offset.data;
}

/**
 * The account and its starting credit in one unit of work, as open sign-up does: a credit the
 * ledger refuses (above the balance limit) leaves no account behind.
 */
function createWithCredit(deps: ModuleDeps, input: { name: string; email?: string; plan?: string }, micros: number, actor: string): Promise<AccountRow> {
  const now = deps.now();
  return deps.store.tx(function* (q) {
    const row = yield* insertAccount(q, input, actor, now);
    if (micros > 0) yield* applyCredit(q, { accountId: row.id, amountMicros: micros, note: "Starting credit", actor, heldMicros: 0 }, now);
    return row;
  }, { durable: true, notify: true });
}

/** One account: login, plan and limits, keys, recent ledger, 30 days of usage, a new invite link. */
async function accountPage(deps: ModuleDeps, kit: ConsoleKit, invites: Invites, request: Request, op: Op, id: string) {
  // The newest only: each invite of the account ends the ones before it.
  const invite = (await invites.take(op.session.token, id)).at(-1) ?? null;
  const account = await kit.view(id);
  const login = await getLogin(deps.store, id);
  const team = await listMemberRows(deps.store, id);
  const since = Math.floor(deps.now() / DAY_MS) * DAY_MS - 29 * DAY_MS;
  const t = totalsOf(await dailyUsage(deps.store, { accountId: id, from: since }));
  return kit.render(request, op, "accounts", account.name, accountView({
    csrf: op.session.csrf,
    account,
    login: login && { email: login.email ?? "", lastLoginAt: login.lastLoginAt },
    team: { admin: team.filter((m) => m.role === "admin").length, member: team.filter((m) => m.role === "member").length },
    plans: kit.plans(),
    limits: (await planOf(deps.store, deps.config, id))?.limits ?? null,
    keys: (await listKeys(deps.store, id)).map((k) => keyView(k, deps.now())),
    ledger: await listLedger(deps.store, id, { limit: 15 }),
    usage30: { requests: t.requests, tokens: t.prompt_tokens + t.completion_tokens, cost: t.cost_micros },
    invite,
    idem: randomBase62(24),
  }));
}

/** The account page's forms: credit, plan, status, invite link, and revoking one of its keys. */
const accountForms = (deps: ModuleDeps, invites: Invites) => {
  const { safe, back } = consoleKit(deps);
  return new Elysia()
    .use(deps.webAuth)
    .post("/console/accounts/:id/credits", ({ request, operator, params, body }) => safe(request, async () => {
      const to = `/console/accounts/${params.id}`;
      const amount = money(field(body, "amount_usd"));
      if (amount === null || amount === 0) return back(request, to, "error", "Enter a non-zero amount in USD, e.g. 25 or -3.50.");
      const { entry, replayed } = await postWatchedCredit(deps.store, deps.alerts, {
        accountId: params.id, amountMicros: amount, note: field(body, "note").trim().slice(0, 500) || null, actor: operator.actor,
        heldMicros: () => deps.credits.unavailable(params.id), idempotencyKey: field(body, "idem") ? `console:${field(body, "idem")}` : undefined,
      }, deps.now());
      if (replayed) return back(request, to, "warn", "This form was already submitted; nothing was posted twice.");
      // As POST /admin/accounts/:id/credits: an adjustment takes credit as a charge does.
      if (amount < 0) deps.alerts?.schedule(params.id);
      return back(request, to, "ok", `${entry.kind === "topup" ? "Top-up" : "Adjustment"} of $${entry.amount_usd} posted.`);
    }), hide())
    .post("/console/accounts/:id/plan", ({ request, operator, params, body }) => safe(request, async () => {
      const p = await setAccountPlan(deps.store, deps.config, params.id, field(body, "plan"), operator.actor, deps.now());
      return back(request, `/console/accounts/${params.id}`, "ok", `Plan set to ${p.plan}.`);
    }), hide())
    .post("/console/accounts/:id/status", ({ request, operator, params, body }) => safe(request, async () => {
      const status = field(body, "status") === "active" ? "active" : "suspended";
      await updateAccount(deps.store, params.id, { status }, operator.actor);
      return back(request, `/console/accounts/${params.id}`, status === "active" ? "ok" : "warn",
        status === "active" ? "Account reactivated: its keys work again." : "Account suspended: its keys are refused from now on.");
    }), hide())
    .post("/console/accounts/:id/invite", ({ request, operator, params }) => safe(request, async () => {
      const invite = await createInvite(deps.store, {
        accountId: params.id, ttlMs: deps.config.invite_ttl_hours * 3_600_000, actor: operator.actor, baseUrl: publicBase(deps, request),
      }, deps.now());
      // Post/redirect/get: the link is shown once by the next page, and a reload creates nothing.
      await invites.put(operator.session.token, invite, params.id);
      return redirectResponse(`/console/accounts/${params.id}`);
    }), hide())
    .post("/console/keys/:id/revoke", ({ request, operator, params }) => safe(request, async () => {
      const k = await getKeyRow(deps.store, params.id);
      await revokeKey(deps.store, k.id, operator.actor, deps.now());
      return back(request, `/console/accounts/${k.accountId}`, "ok", `Key ${k.prefix}…${k.last4} revoked.`);
    }), hide());
};
