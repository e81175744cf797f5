import type { Model } from "../../config/load";
import { withMarkup } from "../../money/pricing";
import { toXaiImagePrice, toXaiSearchPrice, toXaiTokenPrice } from "../../money/xai-prices";

/** Tollgate keeps no fingerprint or version per model: constants, in the fields' places. */
const FINGERPRINT = "fp_tollgate";
const VERSION = "1.0";

/**
 * What the customer pays per unit: the list price; for cost_plus models (billed at the upstream's
 * cost plus the markup) the list price with the markup, the price their holds assume.
 */
const customerPrice = (m: Model, v: number) => (m.pricing === "cost_plus" ? withMarkup(v, m.markup_percent) : v);

/**
 * A chat model as xAI's GET /v1/language-models shows one, at the customer's prices in xAI's
 * units (src/money/xai-prices.ts). Image input tokens are billed as prompt tokens; a search is
 * a web_search tool call. Modalities are not configured: chat models report text and image in.
 */
export function languageModelObject(m: Model) {
  const p = (v: number) => toXaiTokenPrice(customerPrice(m, v));
  const long = m.long_context;
  return {
    id: m.id,
    fingerprint: FINGERPRINT,
    created: m.created,
    object: "model" as const,
    owned_by: m.provider,
    version: VERSION,
    input_modalities: ["text", "image"],
    output_modalities: ["text"],
    prompt_text_token_price: p(m.input_price),
    cached_prompt_text_token_price: p(m.cached_input_price),
    prompt_image_token_price: p(m.input_price),
    completion_text_token_price: p(m.output_price),
    search_price: toXaiSearchPrice(customerPrice(m, m.tool_prices.web_search)),
    // Zero where there is no long-context tier, as xAI has it; its threshold is where the tier starts.
    prompt_text_token_price_long_context: long ? p(long.input_price) : 0,
    cached_prompt_text_token_price_long_context: long ? p(long.cached_input_price ?? long.input_price) : 0,
    completion_text_token_price_long_context: long ? p(long.output_price) : 0,
    long_context_threshold: long ? long.above_tokens + 1 : 0,
    aliases: [] as string[],
  };
}

/** An image model as xAI's GET /v1/image-generation-models shows one (price in 1e-10 USD). */
export function imageModelObject(m: Model) {
  return {
    id: m.id,
    fingerprint: FINGERPRINT,
    max_prompt_length: m.context_window,
    created: m.created,
    object: "model" as const,
    owned_by: m.provider,
    version: VERSION,
    input_modalities: ["text", "image"],
    output_modalities: ["image"],
    image_price: toXaiImagePrice(customerPrice(m, m.image_price)),
    aliases: [] as string[],
  };
}
