import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { csvResponse, marginsCsv } from "../../modules/margins/csv";
import { GROUPS, type MarginGroupBy, type MarginsReportT } from "../../modules/margins/model";
import { losses } from "../../modules/margins/losses";
import { marginFilter, margins } from "../../modules/margins/service";
import { consoleKit, DAY_MS, hide, type ConsoleKit, type Op } from "./page-kit";
import { accountFilter, keyFilter, pickAccount, pickKey, type Picked } from "./filter-choices";
import { marginsView } from "./views/margins";

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The page's filters from its query; the period defaults to the last 30 days (UTC). Account and key as `pick` read them. */
function readFilters(deps: ModuleDeps, query: Record<string, unknown>, picked: { account: Picked; key: Picked }) {
  const str = (k: string) => (typeof query[k] === "string" ? (query[k] as string).trim() : "");
  const date = (k: string) => (/^\d{4}-\d{2}-\d{2}$/.test(str(k)) && !Number.isNaN(Date.parse(str(k))) ? str(k) : "");
  const today = Math.floor(deps.now() / DAY_MS) * DAY_MS;
  const given = date("from") || date("to");
  const values = {
    group: (GROUPS as readonly string[]).includes(str("group")) && str("group") !== "day" ? str("group") : "",
    account: picked.account.id, model: str("model"), key: picked.key.id,
    from: given ? date("from") : isoDay(today - 29 * DAY_MS),
    to: given ? date("to") : isoDay(today),
  };
  const q = { from: values.from || undefined, to: values.to || undefined, account_id: values.account, model: values.model, key_id: values.key };
  return { values, q, groupBy: (values.group || "day") as MarginGroupBy, search: new URLSearchParams(Object.entries(values).filter(([, v]) => v)) };
}

/** Revenue, upstream cost and margin per day over the period, zero-filled, for the chart (micros). */
function chartData(byDay: MarginsReportT) {
  if (byDay.data.length === 0) return null;
  const days = byDay.data.map((d) => d.group).sort();
  const at = new Map(byDay.data.map((d) => [d.group, d]));
  const out = { days: [] as number[], revenue: [] as number[], cost: [] as number[], margin: [] as number[] };
  for (let t = Date.parse(days[0]!); t <= Date.parse(days.at(-1)!); t += DAY_MS) {
    const d = at.get(isoDay(t));
    out.days.push(t / 1000);
    out.revenue.push(d?.revenue_micros ?? 0);
    out.cost.push(d?.upstream_cost_micros ?? 0);
    out.margin.push(d?.margin_micros ?? 0);
  }
  return out;
}

/** The account and the key the filters' text names (a name typed in place of an id). */
async function pick(deps: ModuleDeps, query: Record<string, unknown>) {
  const text = (k: string) => (typeof query[k] === "string" ? (query[k] as string).trim() : "");
  const account = await pickAccount(deps.store, text("account"));
  return { account, key: await pickKey(deps.store, text("key"), account.problem ? "" : account.id) };
}

async function marginsPage(deps: ModuleDeps, kit: ConsoleKit, request: Request, operator: Op, query: Record<string, unknown>) {
  const picked = await pick(deps, query);
  const { values, q, groupBy, search } = readFilters(deps, query, picked);
  const filter = marginFilter(q);
  const report = await margins(deps.store, filter, groupBy);
  const byDay = groupBy === "day" ? report : await margins(deps.store, filter, "day");
  const before = typeof query.losses_before === "string" ? query.losses_before : undefined;
  const lost = await losses(deps.store, { ...q, limit: 50, before });
  const more = lost.nextCursor ? `/console/margins?${new URLSearchParams([...search, ["losses_before", lost.nextCursor]])}#losses-title` : null;
  const body = marginsView({
    values, report, chart: chartData(byDay), losses: lost.rows, moreLosses: more, csv: `/console/margins.csv?${search}`,
    account: await accountFilter(deps.store, picked.account),
    models: deps.config.models.map((m) => ({ value: m.id, label: m.id })),
    key: await keyFilter(deps.store, picked.key, picked.account.problem ? "" : values.account),
  });
  return kit.render(request, operator, "margins", "Margins", body, 200, true);
}

/** The console's Margins page and its CSV export (the same report as GET /admin/margins). */
export const marginsPages = (deps: ModuleDeps) => {
  const kit = consoleKit(deps);
  return new Elysia()
    .use(deps.webAuth)
    .get("/console/margins", ({ request, operator, query }) => kit.safe(request, () => marginsPage(deps, kit, request, operator, query)), hide())
    .get("/console/margins.csv", ({ request, query }) => kit.safe(request, async () => {
      const { q, groupBy } = readFilters(deps, query, await pick(deps, query));
      const report = await margins(deps.store, marginFilter(q), groupBy);
      return csvResponse(marginsCsv(report), `margins-by-${groupBy}`, isoDay(deps.now()));
    }), hide());
};
