import { Elysia } from "elysia";
import { z } from "zod";
import type { ModuleDeps } from "../../runtime/module-deps";
import { csvResponse, marginsCsv } from "./csv";
import { LossesList, LossesQuery, MarginsQuery, MarginsReport, type MarginsQueryT, type MarginsReportT } from "./model";
import { losses } from "./losses";
import { marginFilter, margins } from "./service";
import { checkNamed } from "../usage/named";

const DESCRIPTION =
  "Revenue (what customers were charged), upstream cost (what the upstream billed: its reported cost, else the model's " +
  "`upstream_cost` prices) and margin, per `group_by` over the raw usage rows. Rows whose upstream cost is unknown are counted " +
  "and their revenue shown apart (`unknown_cost_*`), never as zero cost: the margin covers known-cost rows only. " +
  "`format=csv` (or GET /admin/margins.csv) returns the same as CSV, money as exact decimal USD. " +
  "An unknown `account_id` or `key_id` is a 404 `not_found` naming it in `param`.";

/** Admin routes for margins: revenue against upstream cost, and the requests that lost money. */
export const marginsModule = (deps: ModuleDeps) => {
  const day = () => new Date(deps.now()).toISOString().slice(0, 10);
  const report = async (q: MarginsQueryT) => {
    await checkNamed(deps.store, q.account_id, q.key_id);
    return margins(deps.store, marginFilter(q), q.group_by);
  };
  const csv = async (q: MarginsQueryT) => csvResponse(marginsCsv(await report(q)), `margins-by-${q.group_by}`, day());
  return new Elysia({ prefix: "/admin", tags: ["admin"] })
    .use(deps.auth)
    // A Response is sent as it is, unvalidated; the cast only tells the types so.
    .get("/margins", async ({ query }) => (query.format === "csv" ? ((await csv(query)) as unknown as MarginsReportT) : report(query)), {
      admin: true,
      query: MarginsQuery,
      response: MarginsReport,
      detail: {
        summary: "Revenue, upstream cost and margin by day, model, account or key",
        description: DESCRIPTION,
        responses: {
          200: {
            description: "The report, or with format=csv the same as CSV",
            content: { "application/json": { schema: z.toJSONSchema(MarginsReport, { io: "output" }) as Record<string, unknown> }, "text/csv": { schema: { type: "string" } } },
          },
        },
      },
    })
    // An alias of format=csv for links and curl -O; the OpenAPI plugin leaves out paths with a
    // file extension, so the spec documents it under GET /admin/margins.
    .get("/margins.csv", ({ query }) => csv(query), { admin: true, query: MarginsQuery, detail: { hide: true } })
    .get(
      "/margins/losses",
      async ({ query }) => {
        await checkNamed(deps.store, query.account_id, query.key_id);
        const { rows, nextCursor } = await losses(deps.store, query);
        return { object: "list" as const, data: rows, has_more: nextCursor !== null, next_cursor: nextCursor };
      },
      {
        admin: true,
        query: LossesQuery,
        response: LossesList,
        detail: {
          summary: "Requests charged less than their upstream cost, newest first",
          description:
            "An overage beyond the hold, or a list price below the upstream's. Paged: `limit` rows, `before` = the previous page's `next_cursor`. " +
            "An unknown `account_id` or `key_id` is a 404 `not_found` naming it in `param`.",
        },
      },
    );
};
