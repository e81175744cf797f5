import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { ImageModelList, LanguageModelList, ModelList, ModelObject, ModelParams } from "./model";
import { imageModelObject, languageModelObject } from "./service";
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
    })
    .get(
      "/language-models",
      ({ principal }) => ({ models: modelsFor(deps.config, principal.models).filter((m) => m.kind === "chat").map(languageModelObject) }),
      {
        customer: true,
        response: LanguageModelList,
        detail: {
          summary: "Chat models this key may use, with this gateway's prices (xAI's language-models format)",
          description: "Prices are what the customer pays, in xAI's unit: USD cents per 100 million tokens, rounded up.",
        },
      },
    )
    .get(
      "/image-generation-models",
      ({ principal }) => ({ models: modelsFor(deps.config, principal.models).filter((m) => m.kind === "image").map(imageModelObject) }),
      {
        customer: true,
        response: ImageModelList,
        detail: {
          summary: "Image models this key may use, with this gateway's prices (xAI's image-generation-models format)",
          description: "image_price is what the customer pays per image, in 1e-10 USD as xAI serves it (200000000 = $0.02).",
        },
      },
    );
