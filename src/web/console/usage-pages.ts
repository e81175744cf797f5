import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { dayStart } from "../forms";
import { accountNames } from "../../modules/usage/query";
import { dailyUsage, listUsage, totalsOf, type UsageFilter } from "../../modules/usage/service";
import { usageCursor } from "../portal/usage-pages";
import { accountFilter, pickAccount } from "./filter-choices";
import { consoleKit, DAY_MS, hide, type ConsoleKit, type Op } from "./page-kit";
import { keyLabels, usageByAccount } from "./service";
import { consoleUsageView } from "./views/usage";

/** Every account's usage: per day, per account and each request (filtered by account, model and days). */
export const consoleUsagePages = (deps: ModuleDeps) => {
  const kit = consoleKit(deps);
  return new Elysia()
    .use(deps.webAuth)
    .get("/console/usage", ({ request, operator, query }) => kit.safe(request, () => usagePage(deps, kit, request, operator, query)), hide());
};

async function usagePage(deps: ModuleDeps, kit: ConsoleKit, request: Request, operator: Op, query: Record<string, unknown>) {
  const str = (k: string) => (typeof query[k] === "string" ? (query[k] as string) : "");
  const picked = await pickAccount(deps.store, str("account").trim());
  const values = { account: picked.id, model: str("model"), from: str("from"), to: str("to") };
  const from = dayStart(values.from);
  const to = dayStart(values.to);
  const filter: UsageFilter = {
    accountId: values.account || undefined, model: values.model || undefined,
    from: from ?? undefined, to: to === null ? undefined : to + DAY_MS,
  };
  const search = new URLSearchParams(Object.entries(values).filter(([, v]) => v));
  const before = usageCursor(query.before);
  if (before) search.set("before", before);
  const page = await listUsage(deps.store, filter, 50, before);
  const daily = await dailyUsage(deps.store, filter);
  const byAccount = await usageByAccount(deps.store, filter);
  // The names of the accounts on this page, whichever they are.
  const names = await deps.store.read((q) => accountNames(q, page.rows.map((r) => r.account_id)));
  for (const a of byAccount) if (a.name !== null) names.set(a.accountId, a.name);
  return kit.render(request, operator, "usage", "Usage", consoleUsageView({
    values, query: search, names, keys: await keyLabels(deps.store, page.rows.map((r) => r.key_id)), daily, rows: page.rows, next: page.nextCursor, totals: totalsOf(daily),
    byAccount,
    account: await accountFilter(deps.store, picked),
    models: deps.config.models.map((m) => ({ value: m.id, label: m.id })),
  }));
}
