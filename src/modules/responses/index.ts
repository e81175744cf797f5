import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { answers, DeletedResponse, InputItems, ResponseObject } from "../apis/model";
import { ResponseParams } from "./model";
import { forward, ITEMS_QUERY, ownResponse, passedQuery, RETRIEVE_QUERY } from "./service";

const requestIdOf = (set: { headers: Record<string, unknown> }) => {
  const id = set.headers["x-request-id"];
  return typeof id === "string" ? id : null;
};

/**
 * Stored responses: the upstream keeps them under a key every customer shares, so only the
 * account that created one may read, list the input of, or delete it (404 for anyone else).
 */
export const responsesModule = (deps: ModuleDeps) => {
  const reg = deps.upstreams.registry;
  /** A GET of one's own stored response (or a part of it), with the query parameters it may pass on. */
  const read =
    (suffix: string, names: readonly string[]) =>
    async ({ params, principal, request, set }: { params: { id: string }; principal: { accountId: string }; request: Request; set: { headers: Record<string, unknown> } }) => {
      const obj = await ownResponse(deps.objects, params.id, principal.accountId);
      return forward(reg, deps.objects, obj, { method: "GET", requestId: requestIdOf(set), suffix, query: passedQuery(request, names) });
    };
  return new Elysia({ prefix: "/v1/responses", tags: ["customer"] })
    .use(deps.auth)
    .get("/:id", read("", RETRIEVE_QUERY), {
      customer: true,
      params: ResponseParams,
      detail: { summary: "A stored response of yours (404 for any other id); `include` is passed on", responses: answers(ResponseObject, false) },
    })
    .get("/:id/input_items", read("/input_items", ITEMS_QUERY), {
      customer: true,
      params: ResponseParams,
      detail: { summary: "The input items of a stored response of yours; `after`, `before`, `limit`, `order`, `include` are passed on (paging)", responses: answers(InputItems, false) },
    })
    .delete("/:id", async ({ params, principal, set }) => forward(reg, deps.objects, await ownResponse(deps.objects, params.id, principal.accountId), { method: "DELETE", requestId: requestIdOf(set) }), {
      customer: true,
      params: ResponseParams,
      detail: { summary: "Delete a stored response of yours", responses: answers(DeletedResponse, false) },
    });
};
