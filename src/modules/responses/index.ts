import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { answers, DeletedResponse, InputItems, ResponseObject } from "../apis/model";
import { errorAnswers, storedResponseErrors } from "../apis/error-answers";
import { ResponseParams } from "./model";
import { forward, ITEMS_QUERY, ownResponse, passedQuery, refuseStream, RETRIEVE_QUERY } from "./service";
import type { Principal } from "../../gateway/key-auth";
import { withinLimits } from "../../gateway/limits/within-limits";

const requestIdOf = (set: { headers: Record<string, unknown> }) => {
  const id = set.headers["x-request-id"];
  return typeof id === "string" ? id : null;
};

type Ctx = { params: { id: string }; principal: Principal; request: Request; set: { headers: Record<string, unknown> } };

/**
 * Stored responses: the upstream keeps them under a key every customer shares, so only the
 * account that created one may read, list the input of, or delete it (404 for anyone else; a
 * member-role key, its own member's only). Each asks the upstream with the shared key, so each
 * is a request of the key's rate limits (no tokens).
 */
export const responsesModule = (deps: ModuleDeps) => {
  const reg = deps.upstreams.registry;
  const call = async (c: Ctx, how: { method: "GET" | "DELETE"; suffix?: string; names?: readonly string[] }) => {
    const obj = await ownResponse(deps.objects, c.params.id, c.principal);
    const query = how.names ? passedQuery(c.request, how.names) : "";
    return withinLimits(deps.limiter, c.principal, c.set, () => forward(reg, deps.objects, obj, { method: how.method, requestId: requestIdOf(c.set), maxBytes: deps.config.max_answer_bytes, suffix: how.suffix, query }));
  };
  /** A GET of one's own stored response (or a part of it), with the query parameters it may pass on. */
  const read = (suffix: string, names: readonly string[]) => (c: Ctx) => call(c, { method: "GET", suffix, names });
  const retrieve = read("", RETRIEVE_QUERY);
  return new Elysia({ prefix: "/v1/responses", tags: ["customer"] })
    .use(deps.auth)
    .get(
      "/:id",
      (c) => {
        refuseStream(c.request);
        return retrieve(c);
      },
      {
        customer: true,
        params: ResponseParams,
        detail: {
          summary: "A stored response of yours (404 for any other id); `include` is passed on",
          description: "Its events are not replayed: `stream=true` is a 400 `unsupported_parameter` (`param: \"stream\"`), as `background: true` is on `POST /v1/responses`.",
          responses: { ...answers(ResponseObject, false), ...errorAnswers(storedResponseErrors(true)) },
          parameters: queryParams(["include"]),
        },
      },
    )
    .get("/:id/input_items", read("/input_items", ITEMS_QUERY), {
      customer: true,
      params: ResponseParams,
      detail: {
        summary: "The input items of a stored response of yours; `after`, `before`, `limit`, `order`, `include` are passed on (paging)",
        responses: { ...answers(InputItems, false), ...errorAnswers(storedResponseErrors(false)) },
        parameters: queryParams(["after", "before", "limit", "order", "include"]),
      },
    })
    .delete("/:id", (c) => call(c, { method: "DELETE" }), {
      customer: true,
      params: ResponseParams,
      detail: { summary: "Delete a stored response of yours", responses: { ...answers(DeletedResponse, false), ...errorAnswers(storedResponseErrors(false)) } },
    });
};

/** The query parameters passed on to the upstream as they are (not validated here), for the spec. */
function queryParams(names: readonly string[]) {
  const schemas: Record<string, Record<string, unknown>> = {
    after: { type: "string", description: "An item id: the page after it" },
    before: { type: "string", description: "An item id: the page before it" },
    limit: { type: "integer", minimum: 1, maximum: 100, description: "Items per page" },
    order: { type: "string", enum: ["asc", "desc"] },
    include: { type: "array", items: { type: "string" }, description: "Extra fields to include (as the upstream takes them)" },
  };
  return names.map((name) => ({ in: "query" as const, name, required: false, schema: schemas[name]! }));
}
