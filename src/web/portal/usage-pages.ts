import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { microsToUsd } from "../../money/units";
import { listKeys } from "../../modules/keys/service";
import { dayStart } from "../forms";
import type { PortalUser } from "../session";
import { DAY_MS, hide, portalKit, type PortalKit } from "./page-kit";
import { usageCsvStream, usagePage } from "./service";
import { portalUsageView } from "./views/usage";

/** The account's requests (filtered by model, key and days) and their CSV export. */
export const portalUsagePages = (deps: ModuleDeps) => {
  const kit = portalKit(deps);
  return new Elysia()
    .use(deps.webAuth)
    .get("/portal/usage", ({ request, user, query }) => kit.safe(request, () => usageListPage(deps, kit, request, user, query)), hide())
    .get("/portal/usage.csv", ({ request, user, query }) => kit.safe(request, () => {
      const { filter } = usageFilter(query, user);
      const day = new Date(deps.now()).toISOString().slice(0, 10);
      return new Response(usageCsvStream(deps.store, filter, microsToUsd), {
        headers: {
          "content-type": "text/csv; charset=utf-8",
          "content-disposition": `attachment; filename="tollgate-usage-${day}.csv"`,
          "cache-control": "no-store",
        },
      });
    }), hide());
};

async function usageListPage(deps: ModuleDeps, kit: PortalKit, request: Request, user: PortalUser, query: Record<string, unknown>) {
  const { filter, values, search } = usageFilter(query, user);
  const keys = listKeys(deps.store, user.account.id);
  const names = new Map(keys.map((k) => [k.id, k.name || `${k.prefix}…${k.last4}`]));
  const before = typeof query.before === "string" ? query.before : undefined;
  const data = await usagePage(deps.store, filter, 50, before);
  return kit.render(request, user, "usage", "Usage", portalUsageView({
    values,
    models: deps.config.models.map((m) => ({ value: m.id, label: m.id })),
    keys: keys.map((k) => ({ value: k.id, label: names.get(k.id)! })),
    totals: data.totals,
    rows: data.rows,
    next: data.nextCursor,
    query: search,
    keyName: (id) => (id ? names.get(id) ?? id : "—"),
  }));
}

/** The usage filter from the query: the form's values, the query string to keep, and the filter. */
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
