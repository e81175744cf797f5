import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { answers, DeletedResponse, InputItems, ResponseObject } from "../apis/model";
import { ResponseParams } from "./model";
import { forward, ownResponse } from "./service";

/**
 * Stored responses: the upstream keeps them under a key every customer shares, so only the
 * account that created one may read, list the input of, or delete it (404 for anyone else).
 */
export const responsesModule = (deps: ModuleDeps) => {
  const reg = deps.upstreams.registry;
  return new Elysia({ prefix: "/v1/responses", tags: ["customer"] })
    .use(deps.auth)
    .get("/:id", async ({ params, principal }) => forward(reg, deps.objects, await ownResponse(deps.objects, params.id, principal.accountId), "GET"), {
      customer: true,
      params: ResponseParams,
      detail: { summary: "A stored response of yours (404 for any other id)", responses: answers(ResponseObject, false) },
    })
    .get(
      "/:id/input_items",
      async ({ params, principal }) => forward(reg, deps.objects, await ownResponse(deps.objects, params.id, principal.accountId), "GET", "/input_items"),
      { customer: true, params: ResponseParams, detail: { summary: "The input items of a stored response of yours", responses: answers(InputItems, false) } },
    )
    .delete("/:id", async ({ params, principal }) => forward(reg, deps.objects, await ownResponse(deps.objects, params.id, principal.accountId), "DELETE"), {
      customer: true,
      params: ResponseParams,
      detail: { summary: "Delete a stored response of yours", responses: answers(DeletedResponse, false) },
    });
};
