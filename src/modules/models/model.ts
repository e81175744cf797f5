import { z } from "zod";

export const ModelObject = z.object({
  id: z.string(),
  object: z.literal("model"),
  created: z.number().int(),
  owned_by: z.string(),
});

export const ModelList = z.object({ object: z.literal("list"), data: z.array(ModelObject) });
export const ModelParams = z.object({ model: z.string() });

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
