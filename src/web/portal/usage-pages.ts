import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { microsToUsd } from "../../money/units";
import { listMemberRows } from "../../identity/members";
import { memberKeyIds } from "../../modules/members/service";
import { dayStart } from "../forms";
import type { PortalUser } from "../session";
import { lineOf, rotationLines, visibleKeys, type KeyLine } from "./key-access";
import { DAY_MS, hide, portalKit, seesAll, type PortalKit } from "./page-kit";
import { boundedUsageRead, tooManyUsageReads } from "../../modules/usage/reads";
import { UsageQuery } from "../../modules/usage/model";
import { errors } from "../../lib/errors";
import { usageCsvStream, usagePage } from "./service";
import { portalUsageView, type FilterOption } from "./views/usage";

/**
 * The requests (filtered by model, key, member and days) and their CSV export: a member sees their
 * own keys' only, owners and admins the account's. A key and its replacements are one entry.
 */
export const portalUsagePages = (deps: ModuleDeps) => {
  const kit = portalKit(deps);
  return new Elysia()
    .use(deps.webAuth)
    .get("/portal/usage", ({ request, user, query }) => kit.safe(request, () => usageListPage(deps, kit, request, user, query)), hide())
    .get("/portal/usage.csv", ({ request, user, query }) => kit.safe(request, async () => {
      const { filter } = await usageFilter(deps, query, user, await scopeOf(deps, user));
      const day = new Date(deps.now()).toISOString().slice(0, 10);
      // An export counts as one of the account's usage reads until its last row is sent.
      const onEnd = deps.usageReads.take(user.account.id, tooManyUsageReads);
      return new Response(usageCsvStream(deps.store, filter, microsToUsd, { onEnd }), {
        headers: {
          "content-type": "text/csv; charset=utf-8",
          "content-disposition": `attachment; filename="tollgate-usage-${day}.csv"`,
          "cache-control": "no-store",
        },
      });
    }), hide());
};

/** What the signed-in member may filter by: the rotation lines of the keys they see, and (owners, admins) the members. */
async function scopeOf(deps: ModuleDeps, user: PortalUser) {
  const keys = await visibleKeys(deps.store, user);
  return { keys, lines: rotationLines(keys), members: seesAll(user) ? await listMemberRows(deps.store, user.account.id, { removed: true }) : [] };
}
type Scope = Awaited<ReturnType<typeof scopeOf>>;

async function usageListPage(deps: ModuleDeps, kit: PortalKit, request: Request, user: PortalUser, query: Record<string, unknown>) {
  const scope = await scopeOf(deps, user);
  const { filter, values, search } = await usageFilter(deps, query, user, scope);
  const names = new Map(scope.keys.map((k) => [k.id, k.name || `${k.prefix}…${k.last4}`]));
  const before = usageCursor(query.before);
  const data = await boundedUsageRead(deps.usageReads, user.account.id, () => usagePage(deps.store, filter, 50, before));
  return kit.render(request, user, "usage", "Usage", portalUsageView({
    values,
    models: deps.config.models.map((m) => ({ value: m.id, label: m.id })),
    keys: scope.lines.map(lineOption),
    members: seesAll(user) ? scope.members.map((m) => ({ value: m.id, label: `${m.email ?? m.id}${m.removedAt !== null ? " (removed)" : ""}` })) : undefined,
    totals: data.totals,
    rows: data.rows,
    next: data.nextCursor,
    query: search,
    keyName: (id) => (id ? names.get(id) ?? id : "—"),
    all: seesAll(user),
  }));
}

/** One entry per rotation line: its newest key's name and display, and how many keys it spans. */
function lineOption(l: KeyLine): FilterOption {
  const k = l.newest;
  const name = k.name ? `${k.name} · ${k.prefix}…${k.last4}` : `${k.prefix}…${k.last4}`;
  return { value: k.id, label: l.keys.length > 1 ? `${name} (${l.keys.length} keys, rotated)` : name };
}

/** The usage filter from the query: the form's values, the query string to keep, and the filter. */
async function usageFilter(deps: ModuleDeps, query: Record<string, unknown>, user: PortalUser, scope: Scope) {
  const text = (name: string) => (typeof query[name] === "string" ? (query[name] as string) : "");
  const values = { model: text("model"), key: text("key"), member: text("member"), from: text("from"), to: text("to") };
  const from = dayStart(values.from);
  const to = dayStart(values.to);
  // Members: only their own keys, whatever the query says; owners and admins: the whole account.
  let keyIds: string[] | undefined = seesAll(user) ? undefined : scope.keys.map((k) => k.id);
  const line = values.key ? lineOf(scope.lines, values.key) : undefined;
  if (values.key) {
    values.key = line?.newest.id ?? values.key;
    keyIds = narrow(keyIds, line ? line.keys.map((k) => k.id) : []);
  }
  const member = seesAll(user) ? scope.members.find((m) => m.id === values.member) : undefined;
  if (member) keyIds = narrow(keyIds, await memberKeyIds(deps.store, user.account.id, member));
  else values.member = "";
  const search = new URLSearchParams(Object.entries(values).filter(([, v]) => v));
  const before = usageCursor(query.before);
  if (before) search.set("before", before);
  return {
    values,
    search,
    // The account comes from the session, never from the query.
    filter: {
      accountId: user.account.id,
      model: values.model || undefined,
      keyIds,
      from: from ?? undefined,
      to: to === null ? undefined : to + DAY_MS,
    },
  };
}

/**
 * A usage page's `before`, read as GET /v1/usage reads it: a cursor it cannot read is a 400 page,
 * never the first page again (a reader following "Older" would see the same rows forever).
 */
export function usageCursor(raw: unknown): string | undefined {
  if (typeof raw !== "string" || raw === "") return undefined;
  if (!UsageQuery.shape.before.safeParse(raw).success) {
    throw errors.badRequest("This page's link is not valid: its `before` is not a cursor from a previous page. Start again from the first page.", "before");
  }
  return raw;
}

const narrow = (a: string[] | undefined, b: string[]) => (a === undefined ? b : a.filter((id) => b.includes(id)));
