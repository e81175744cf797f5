import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { dayStart } from "../forms";
import { listAccounts } from "../../modules/accounts/service";
import { dailyUsage, listUsage, totalsOf, type UsageFilter } from "../../modules/usage/service";
import { usageCursor } from "../portal/usage-pages";
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
  const values = { account: str("account"), model: str("model"), from: str("from"), to: str("to") };
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
  const accounts = await listAccounts(deps.store, { limit: 500, offset: 0 });
  const names = new Map(accounts.map((a) => [a.id, a.name]));
  return kit.render(request, operator, "usage", "Usage", consoleUsageView({
    values, query: search, names, keys: await keyLabels(deps.store, page.rows.map((r) => r.key_id)), daily, rows: page.rows, next: page.nextCursor, totals: totalsOf(daily),
    byAccount,
    accounts: accounts.map((a) => ({ value: a.id, label: a.name })),
    models: deps.config.models.map((m) => ({ value: m.id, label: m.id })),
  }));
}
