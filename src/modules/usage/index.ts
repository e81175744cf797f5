import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { AdminUsageQuery, UsageQuery, UsageReport } from "./model";
import { dailyUsage, filterFromQuery, listUsage, totalsOf, type UsageFilter } from "./service";
import { getMemberRow } from "../../identity/members";
import type { Principal } from "../../gateway/key-auth";
import { memberKeyIds } from "../members/service";
import { byKeyLine } from "./key-line";
import { checkNamed, namedBy } from "./named";
import { boundedUsageRead, USAGE_READS_PER_ACCOUNT } from "./reads";

/** Only a member's keys: theirs when a member-role key calls, or the member an admin asks about. */
async function byMember(deps: ModuleDeps, f: UsageFilter, memberId: string | null | undefined, onlyRole?: "member"): Promise<UsageFilter> {
  if (!memberId) return f;
  const m = await namedBy(() => getMemberRow(deps.store, memberId), `Member ${memberId}`, "member_id");
  if (onlyRole && m.role !== onlyRole) return f;
  // Filters narrow: a member of another account than the one asked for matches nothing.
  if (f.accountId && f.accountId !== m.accountId) return { ...f, keyIds: [] };
  return { ...f, accountId: m.accountId, keyIds: await memberKeyIds(deps.store, m.accountId, m) };
}

/** A key of a member with the "member" role sees its member's usage only; owners' and admins' keys the account's. */
const customerFilter = async (deps: ModuleDeps, p: Principal, q: Parameters<typeof filterFromQuery>[0]) =>
  byKeyLine(deps.store, await byMember(deps, filterFromQuery(q, p.accountId), p.memberId, "member"));

async function report(deps: ModuleDeps, f: UsageFilter, limit: number, cursor?: string) {
  const { rows, nextCursor } = await listUsage(deps.store, f, limit, cursor);
  const daily = await dailyUsage(deps.store, f);
  return { object: "list" as const, data: rows, has_more: nextCursor !== null, next_cursor: nextCursor, totals: totalsOf(daily), daily };
}

export const usageModule = (deps: ModuleDeps) =>
  new Elysia({ tags: ["usage"] })
    .use(deps.auth)
    // At most USAGE_READS_PER_ACCOUNT at once per account (429 too_many_usage_reads past it): each sums the whole range.
    .get("/v1/usage", ({ principal, query }) => boundedUsageRead(deps.usageReads, principal.accountId, async () => report(deps, await customerFilter(deps, principal, query), query.limit, query.before)), {
      customer: true,
      query: UsageQuery,
      response: UsageReport,
      detail: {
        summary: "The calling account's usage (a member-role key: its member's keys only): requests (newest first), totals, and totals per day and model",
        description:
          "`data` is one page of rows, newest first: `limit` rows (default 100, at most 1000); pass `next_cursor` as `before` for the next page " +
          "(`has_more` tells whether there is one). `totals` and `daily` cover the whole filtered range on every page. " +
          `An account may have ${USAGE_READS_PER_ACCOUNT} usage reads under way at once; one more is a 429 \`too_many_usage_reads\` with \`retry-after: 1\`.`,
      },
    })
    .get("/admin/usage", async ({ query }) => {
      await checkNamed(deps.store, query.account_id, query.key_id);
      return report(deps, await byKeyLine(deps.store, await byMember(deps, filterFromQuery(query), query.member_id)), query.limit, query.before);
    }, {
      admin: true,
      query: AdminUsageQuery,
      response: UsageReport,
      detail: {
        summary: "Usage across accounts (filter by account, key, model, time), with totals per day and model",
        description:
          "Paged like GET /v1/usage: `limit` rows per page, `before` = the previous page's `next_cursor`; totals cover the whole range. " +
          "An unknown `account_id`, `key_id` or `member_id` is a 404 `not_found` naming it in `param`.",
      },
    });
