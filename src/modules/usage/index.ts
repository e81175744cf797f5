import { Elysia } from "elysia";
import type { AppDeps } from "../../runtime/app";
import { authPlugin } from "../../identity/auth";
import { AdminUsageQuery, UsageQuery, UsageReport } from "./model";
import { dailyUsage, filterFromQuery, listUsage, totalsOf, type UsageFilter } from "./service";

function report(deps: AppDeps, f: UsageFilter, limit: number, cursor?: string) {
  const { rows, nextCursor } = listUsage(deps.db, f, limit, cursor);
  const daily = dailyUsage(deps.db, f);
  return { object: "list" as const, data: rows, has_more: nextCursor !== null, next_cursor: nextCursor, totals: totalsOf(daily), daily };
}

export const usageModule = (deps: AppDeps) =>
  new Elysia({ tags: ["usage"] })
    .use(authPlugin(deps))
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
