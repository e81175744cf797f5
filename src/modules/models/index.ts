import { Elysia } from "elysia";
import { z } from "zod";
import type { ModuleDeps } from "../../runtime/module-deps";
import { AnthropicModelList, AnthropicModelObject, ImageModelList, LanguageModelList, ModelList, ModelListQuery, ModelObject, ModelParams } from "./model";
import { anthropicModel, anthropicModelPage, answersAnthropic } from "./anthropic";
import { imageModelObject, languageModelObject } from "./service";
import { findModel, modelObject, modelsFor } from "../../gateway/catalogue";

export const modelsModule = (deps: ModuleDeps) =>
  new Elysia({ prefix: "/v1", tags: ["customer"] })
    .use(deps.auth)
    .get(
      "/models",
      ({ principal, request, query, set }) => {
        const models = modelsFor(deps.config, principal.models);
        if (answersAnthropic(request, set)) return anthropicModelPage(models, query);
        return { object: "list" as const, data: models.map(modelObject) };
      },
      {
        customer: true,
        query: ModelListQuery,
        response: z.union([ModelList, AnthropicModelList]),
        detail: {
          summary: "Models this key may use (OpenAI list format; Anthropic's, paged, with anthropic-version)",
          description: "A request with an `anthropic-version` header (Anthropic's SDKs) gets Anthropic's list shape and error envelope.",
        },
      },
    )
    .get(
      "/models/:model",
      ({ principal, params, request, set }) => {
        const m = findModel(deps.config, principal.models, params.model);
        return answersAnthropic(request, set) ? anthropicModel(m) : modelObject(m);
      },
      {
        customer: true,
        params: ModelParams,
        response: z.union([ModelObject, AnthropicModelObject]),
        detail: { summary: "One model, or 404 model_not_found (Anthropic's shape with anthropic-version)" },
      },
    )
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
