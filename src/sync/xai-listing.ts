import { z } from "zod";
import type { Provider } from "../config/load";
import { microsToUsd } from "../money/units";
import { fromXaiImagePrice, fromXaiTokenPrice } from "../money/xai-prices";

/** A model's prices in our units (tokens: USD per 1M scaled by 1e6; images: micros each). */
export interface SyncPrices {
  input_price: number;
  cached_input_price: number;
  output_price: number;
  image_price: number;
  long_context: { above_tokens: number; input_price: number; cached_input_price: number; output_price: number } | null;
}

/** One model the upstream lists, with its prices converted. */
export interface UpstreamModel {
  id: string;
  aliases: readonly string[];
  kind: "chat" | "image";
  created?: number;
  context_window?: number;
  prices: SyncPrices;
  /** Readings worth telling the operator about (an odd unit, a tier price left out). */
  notes: string[];
}

/** The upstream could not be read: exit code 1. */
export class UpstreamError extends Error {}

const price = z.number().int().nonnegative();
const base = { id: z.string().min(1), aliases: z.array(z.string()).default([]), created: z.number().int().nonnegative().optional() };

/** https://docs.x.ai/developers/rest-api-reference/inference/models: GET /v1/language-models. */
const LanguageModels = z.looseObject({
  models: z.array(
    z.looseObject({
      ...base,
      prompt_text_token_price: price,
      cached_prompt_text_token_price: price.default(0),
      completion_text_token_price: price,
      prompt_text_token_price_long_context: price.default(0),
      cached_prompt_text_token_price_long_context: price.default(0),
      completion_text_token_price_long_context: price.default(0),
      long_context_threshold: price.default(0),
      context_length: z.number().int().positive().nullish(),
    }),
  ),
});

/** GET /v1/image-generation-models; `pricing` lists the per-(quality, resolution) tiers. */
const ImageModels = z.looseObject({
  models: z.array(
    z.looseObject({
      ...base,
      image_price: price,
      pricing: z.array(z.looseObject({ price_per_image: price, quality: z.string(), resolution: z.string() })).nullish(),
    }),
  ),
});

type LanguageModel = z.output<typeof LanguageModels>["models"][number];
type ImageModel = z.output<typeof ImageModels>["models"][number];

/**
 * Zero means "none" in these fields: no cached price (cached tokens then cost the input price,
 * rather than nothing), no long-context tier (threshold 0), or the standard price in that tier.
 */
function chatModel(m: LanguageModel): UpstreamModel {
  const input = fromXaiTokenPrice(m.prompt_text_token_price);
  const cached = m.cached_prompt_text_token_price ? fromXaiTokenPrice(m.cached_prompt_text_token_price) : input;
  const output = fromXaiTokenPrice(m.completion_text_token_price);
  const longInput = m.prompt_text_token_price_long_context ? fromXaiTokenPrice(m.prompt_text_token_price_long_context) : input;
  // xAI's tier starts at the threshold; ours above `above_tokens`.
  const long_context =
    m.long_context_threshold > 1
      ? {
          above_tokens: m.long_context_threshold - 1,
          input_price: longInput,
          cached_input_price: m.cached_prompt_text_token_price_long_context ? fromXaiTokenPrice(m.cached_prompt_text_token_price_long_context) : cached,
          output_price: m.completion_text_token_price_long_context ? fromXaiTokenPrice(m.completion_text_token_price_long_context) : output,
        }
      : null;
  return {
    id: m.id,
    aliases: m.aliases,
    kind: "chat",
    created: m.created,
    context_window: m.context_length ?? undefined,
    prices: { input_price: input, cached_input_price: cached, output_price: output, image_price: 0, long_context },
    notes: [],
  };
}

function imageModel(m: ImageModel): UpstreamModel {
  const { micros, unit } = fromXaiImagePrice(m.image_price);
  const notes = unit === "USD cents" ? [`image_price ${m.image_price} read as USD cents`] : [];
  const top = Math.max(0, ...(m.pricing ?? []).map((t) => fromXaiImagePrice(t.price_per_image).micros));
  // One price per image here: the default tier's. Dearer tiers are billed right under cost_plus.
  if (top > micros) notes.push(`priced at the default tier; other qualities or resolutions cost up to ${microsToUsd(top)} USD`);
  const prices = { input_price: 0, cached_input_price: 0, output_price: 0, image_price: micros, long_context: null };
  return { id: m.id, aliases: m.aliases, kind: "image", created: m.created, prices, notes };
}

async function getJson(url: string, provider: Provider): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { ...provider.headers, authorization: `Bearer ${provider.api_key}`, accept: "application/json" },
      signal: AbortSignal.timeout(30_000),
      // Never followed: the key would go to whatever origin a redirect names.
      redirect: "manual",
    });
  } catch (e) {
    throw new UpstreamError(`cannot reach ${url}: ${(e as Error).message}`);
  }
  const text = await res.text().catch(() => "");
  if (!res.ok) throw new UpstreamError(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamError(`${url} answered ${res.status} with something other than JSON`);
  }
}

function parse<T extends z.ZodType>(schema: T, body: unknown, url: string): z.output<T> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new UpstreamError(`${url}: unexpected response (${issue.path.join(".") || "(root)"}: ${issue.message})`);
  }
  return r.data;
}

/** The upstream's chat and image models with their prices, from xAI's two model lists. */
export async function readXaiListing(provider: Provider): Promise<UpstreamModel[]> {
  const langUrl = `${provider.base_url}/language-models`;
  const imageUrl = `${provider.base_url}/image-generation-models`;
  const [lang, image] = await Promise.all([getJson(langUrl, provider), getJson(imageUrl, provider)]);
  return [...parse(LanguageModels, lang, langUrl).models.map(chatModel), ...parse(ImageModels, image, imageUrl).models.map(imageModel)];
}
