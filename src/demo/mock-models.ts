/**
 * The mock's model lists, as xAI's GET /v1/language-models and /v1/image-generation-models serve
 * them (`{ "models": [...] }`), priced from the mock prices (MOCK_PRICES).
 *
 * Price units, from xAI's REST API reference (docs.x.ai, its OpenAPI: schemas LanguageModel and
 * ImageGenerationModel; the same file is mirrored at
 * https://github.com/api-evangelist/xai/blob/main/openapi/_original/xai-openapi.json) and its gRPC
 * definitions (https://github.com/xai-org/xai-proto/blob/main/proto/xai/api/v1/models.proto):
 * - prompt_text_token_price, cached_prompt_text_token_price, prompt_image_token_price,
 *   completion_text_token_price: integers, USD cents per 100 million tokens (= 1/100 cent per 1M
 *   tokens), so USD per 1M tokens = price / 10,000 ($3 per 1M is 30000; xAI's own example lists
 *   grok-3 at 30000 / 7500 / 150000).
 * - search_price: USD cents per 100 million searches (Live Search, $25 per 1,000 = 250000000).
 * - image_price: USD cents per image ($0.02 is 2).
 */
import { MOCK_PRICES } from "./mock-behavior";

export interface LanguageModelInfo {
  id: string;
  fingerprint: string;
  created: number;
  object: "model";
  owned_by: string;
  version: string;
  input_modalities: string[];
  output_modalities: string[];
  prompt_text_token_price: number;
  cached_prompt_text_token_price: number;
  prompt_image_token_price: number;
  completion_text_token_price: number;
  search_price: number;
  aliases: string[];
}

export interface ImageModelInfo {
  id: string;
  fingerprint: string;
  max_prompt_length: number;
  created: number;
  object: "model";
  owned_by: string;
  version: string;
  input_modalities: string[];
  output_modalities: string[];
  image_price: number;
  aliases: string[];
}

/** USD per 1M tokens → USD cents per 100M tokens. */
export const perHundredMillionCents = (usdPerMillion: number) => Math.round(usdPerMillion * 10_000);

export interface UsdPerMillion {
  input: number;
  cached: number;
  output: number;
}
const MOCK_USD: UsdPerMillion = { input: MOCK_PRICES.input, cached: MOCK_PRICES.cached_input, output: MOCK_PRICES.output };

/** A language model at the given USD prices per 1M tokens (default: the mock prices). */
export function languageModel(id: string, created: number, aliases: string[], usd: UsdPerMillion = MOCK_USD): LanguageModelInfo {
  return {
    id,
    fingerprint: `fp_mock${id.length}`,
    created,
    object: "model",
    owned_by: "xai",
    version: "1.0",
    input_modalities: ["text", "image"],
    output_modalities: ["text"],
    prompt_text_token_price: perHundredMillionCents(usd.input),
    cached_prompt_text_token_price: perHundredMillionCents(usd.cached),
    prompt_image_token_price: perHundredMillionCents(usd.input),
    completion_text_token_price: perHundredMillionCents(usd.output),
    search_price: 250_000_000,
    aliases,
  };
}

export function defaultLanguageModels(): LanguageModelInfo[] {
  return [
    languageModel("grok-4-0709", 1752019200, ["grok-4", "grok-4-latest"]),
    languageModel("grok-3", 1744243200, ["grok-3-latest"]),
    languageModel("grok-3-mini", 1744243200, ["grok-3-mini-latest"], { input: 0.3, cached: 0.075, output: 0.5 }),
  ];
}

export function defaultImageModels(): ImageModelInfo[] {
  return [
    {
      id: "grok-imagine-image",
      fingerprint: "fp_mockimage",
      max_prompt_length: 1024,
      created: 1738961600,
      object: "model",
      owned_by: "xai",
      version: "1.0.0",
      input_modalities: ["text", "image"],
      output_modalities: ["image"],
      image_price: Math.round(MOCK_PRICES.image * 100),
      aliases: [],
    },
  ];
}
