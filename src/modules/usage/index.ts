import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { AdminUsageQuery, UsageQuery, UsageReport } from "./model";
import { dailyUsage, filterFromQuery, listUsage, totalsOf, type UsageFilter } from "./service";

function report(deps: ModuleDeps, f: UsageFilter, limit: number, cursor?: string) {
  const { rows, nextCursor } = listUsage(deps.store, f, limit, cursor);
  const daily = dailyUsage(deps.store, f);
  return { object: "list" as const, data: rows, has_more: nextCursor !== null, next_cursor: nextCursor, totals: totalsOf(daily), daily };
}

export const usageModule = (deps: ModuleDeps) =>
  new Elysia({ tags: ["usage"] })
    .use(deps.auth)
    .get("/v1/usage", ({ principal, query }) => report(deps, filterFromQuery(query, principal.accountId), query.limit, query.before), {
      customer: true,
      query: UsageQuery,
      response: UsageReport,
      detail: { summary: "The calling account's usage: requests (newest first), totals, and totals per day and model" },
    })
    .get("/admin/usage", ({ query }) => report(deps, filterFromQuery(query), query.limit, query.before), {
      admin: true,
      query: AdminUsageQuery,
      response: UsageReport,
      detail: { summary: "Usage across accounts (filter by account, key, model, time), with totals per day and model" },
    });
