import { balanceForShow, budgetsForShow, readForShow } from "../../money/credit-store";
import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { keyView } from "../../modules/keys/service";
import { publicBase } from "../../identity/logins";
import type { PortalUser } from "../session";
import { hide, portalKit, seesAll, type PortalKit } from "./page-kit";
import { visibleKeys } from "./key-access";
import { ApiError } from "../../lib/errors";
import { boundedUsageRead } from "../../modules/usage/reads";
import { dailySeries, planOf } from "./service";
import { overviewView } from "./views/overview";
import { quickstartView } from "./views/quickstart";

/** The portal's home: balance, plan, active keys and the last 30 days of spend. */
export const overviewPages = (deps: ModuleDeps) => {
  const kit = portalKit(deps);
  return new Elysia()
    .use(deps.webAuth)
    .get("/portal", ({ request, user }) => kit.safe(request, () => overviewPage(deps, kit, request, user)), hide());
};

async function overviewPage(deps: ModuleDeps, kit: PortalKit, request: Request, user: PortalUser) {
  const mine = await visibleKeys(deps.store, user);
  const keys = mine.filter((k) => keyView(k, deps.now()).status === "active");
  // Members see what their own keys spent; owners and admins the account's.
  const filter = seesAll(user) ? { accountId: user.account.id } : { accountId: user.account.id, keyIds: mine.map((k) => k.id) };
  await readForShow(deps.credits, { accountId: user.account.id, capKeyId: null, memberId: user.member.id ?? null });
  // Other instances' holds count too (a shared store), as on /v1/me.
  const member = { capKeyId: null, memberId: user.member.id ?? null };
  const b = user.member.id ? (await budgetsForShow(deps.credits, [member]))(member)[0] : undefined;
  const clock = deps.credits.budgetClock;
  return kit.render(request, user, "overview", "Overview", overviewView({
    account: user.account,
    balance: await balanceForShow(deps.credits, user.account.id),
    series: await boundedUsageRead(deps.usageReads, user.account.id, () => dailySeries(deps.store, filter, deps.now())).catch((e: unknown) => {
      // The landing page is shown without its chart while the account's usage reads are all taken.
      if (e instanceof ApiError && e.code === "too_many_usage_reads") return null;
      throw e;
    }),
    plan: await planOf(deps.store, deps.config, user.account.id),
    keyCount: keys.length,
    own: !seesAll(user),
    owner: user.member.role === "owner",
    budget: b ? { period: b.period, limit: b.limit, spent: b.spent, remaining: b.remaining, resetsAt: `${clock.format(b.resetsAt)} (${clock.timeZone})` } : null,
  }), { chart: true });
}

/** How to call the API: the base URL and a model the customer's keys may use. */
export const quickstartPages = (deps: ModuleDeps) => {
  const kit = portalKit(deps);
  return new Elysia()
    .use(deps.webAuth)
    .get("/portal/quickstart", ({ request, user }) => kit.safe(request, async () => {
      const keys = (await visibleKeys(deps.store, user)).map((k) => keyView(k, deps.now()));
      const active = keys.filter((k) => k.status === "active");
      const model = active.find((k) => k.models)?.models?.[0] ?? deps.config.models[0]?.id ?? "grok-4";
      return kit.render(request, user, "quickstart", "Quickstart", quickstartView({ baseUrl: `${publicBase(deps, request)}/v1`, model, hasKey: active.length > 0 }));
    }), hide());
};
