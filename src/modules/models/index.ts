import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { ModelList, ModelObject, ModelParams } from "./model";
import { findModel, modelObject, modelsFor } from "../../gateway/catalogue";

export const modelsModule = (deps: ModuleDeps) =>
  new Elysia({ prefix: "/v1", tags: ["customer"] })
    .use(deps.auth)
    .get(
      "/models",
      ({ principal }) => ({ object: "list" as const, data: modelsFor(deps.config, principal.models).map(modelObject) }),
      { customer: true, response: ModelList, detail: { summary: "Models this key may use (OpenAI list format)" } },
    )
    .get("/models/:model", ({ principal, params }) => modelObject(findModel(deps.config, principal.models, params.model)), {
      customer: true,
      params: ModelParams,
      response: ModelObject,
      detail: { summary: "One model, or 404 model_not_found" },
    });
