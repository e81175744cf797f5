import { z } from "zod";
import { queryInt } from "../../lib/query-int";

export const ModelObject = z.object({
  id: z.string(),
  object: z.literal("model"),
  created: z.number().int(),
  owned_by: z.string(),
});

export const ModelList = z.object({ object: z.literal("list"), data: z.array(ModelObject) });
export const ModelParams = z.object({ model: z.string() });

/** Anthropic's shape of the same (sent when the request carries `anthropic-version`). */
export const AnthropicModelObject = z.object({
  type: z.literal("model"),
  id: z.string(),
  display_name: z.string().describe("the model's id: the gateway keeps no display names"),
  created_at: z.string().describe("RFC 3339"),
  max_input_tokens: z.number().int().describe("the model's context_window"),
  max_tokens: z.number().int().describe("the model's max_output_tokens"),
  capabilities: z.null(),
  lifecycle: z.literal("active"),
  line: z.null(),
  deprecated_at: z.null(),
  retires_at: z.null(),
});
export const AnthropicModelList = z.object({
  data: z.array(AnthropicModelObject),
  has_more: z.boolean(),
  first_id: z.string().nullable(),
  last_id: z.string().nullable(),
});
/** Anthropic's paging; an OpenAI client sends none of it. */
export const ModelListQuery = z.object({
  limit: queryInt(1, 1000).optional().describe("Anthropic shape only: page size (default 20)"),
  after_id: z.string().optional().describe("Anthropic shape only: the page after this model"),
  before_id: z.string().optional().describe("Anthropic shape only: the page before this model"),
});

/** Token prices: USD cents per 100 million tokens, rounded up (xAI's unit). */
const tokenPrice = z.number().int().nonnegative();

const described = { id: z.string(), fingerprint: z.string(), created: z.number().int(), object: z.literal("model"), owned_by: z.string(), version: z.string() };

/** One chat model in xAI's language-models format, at this key's prices. */
export const LanguageModelObject = z.object({
  ...described,
  input_modalities: z.array(z.string()),
  output_modalities: z.array(z.string()),
  prompt_text_token_price: tokenPrice.describe("USD cents per 100 million prompt tokens"),
  cached_prompt_text_token_price: tokenPrice.describe("USD cents per 100 million cached prompt tokens"),
  prompt_image_token_price: tokenPrice.describe("USD cents per 100 million image prompt tokens (billed as prompt tokens)"),
  completion_text_token_price: tokenPrice.describe("USD cents per 100 million completion (and reasoning) tokens"),
  search_price: tokenPrice.describe("USD cents per 100 million web searches"),
  prompt_text_token_price_long_context: tokenPrice.describe("prompt price from long_context_threshold prompt tokens on (0: no tier)"),
  cached_prompt_text_token_price_long_context: tokenPrice,
  completion_text_token_price_long_context: tokenPrice,
  long_context_threshold: z.number().int().nonnegative().describe("prompt tokens at which the long-context prices apply to the whole request (0: no tier)"),
  aliases: z.array(z.string()),
});

/** One image model in xAI's image-generation-models format, at this key's price. */
export const ImageModelObject = z.object({
  ...described,
  max_prompt_length: z.number().int(),
  input_modalities: z.array(z.string()),
  output_modalities: z.array(z.string()),
  image_price: z.number().int().nonnegative().describe("price per image in 1e-10 USD (1/100,000,000 of a cent): 200000000 is $0.02"),
  aliases: z.array(z.string()),
});

export const LanguageModelList = z.object({ models: z.array(LanguageModelObject) });
export const ImageModelList = z.object({ models: z.array(ImageModelObject) });
