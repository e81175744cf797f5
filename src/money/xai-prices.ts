/**
 * xAI's price units, as GET /v1/language-models and /v1/image-generation-models serve them
 * (https://docs.x.ai/developers/rest-api-reference/inference/models):
 * - token prices: USD cents per 100 million tokens (12500 = $1.25 per 1M tokens);
 * - image prices: 1/100,000,000ths of a USD cent, i.e. 1e-10 USD (200000000 = $0.02 per image).
 *   The docs call `image_price` "USD cents" but their own example, and the API, serve this unit,
 *   the one they document for `pricing[].price_per_image` (and of cost_in_usd_ticks).
 * Ours: token prices are USD per 1M tokens scaled by 1e6, image prices micros per image.
 * Every conversion is integer arithmetic; a value that falls between two of our units rounds up.
 */

/** Token price, xAI → ours: 1 cent per 100M tokens = $0.0001 per 1M = 100 in our scale. */
export function fromXaiTokenPrice(centsPer100M: number): number {
  return centsPer100M * 100;
}

/** Token price, ours → xAI (rounded up: a listed price never understates the charge). */
export function toXaiTokenPrice(scaled: number): number {
  return Math.ceil(scaled / 100);
}

/** Below this an `image_price` cannot be 1e-10 USD (under a micro-dollar): it is read as cents. */
const MIN_TICKS_PRICE = 10_000;

/** Image price, xAI → micros per image, and the unit it was read in. */
export function fromXaiImagePrice(value: number): { micros: number; unit: "1e-10 USD" | "USD cents" } {
  if (value > 0 && value < MIN_TICKS_PRICE) return { micros: value * 10_000, unit: "USD cents" };
  return { micros: Math.ceil(value / 10_000), unit: "1e-10 USD" };
}

/** Image price, micros per image → xAI's unit (1e-10 USD). */
export function toXaiImagePrice(micros: number): number {
  return micros * 10_000;
}

/**
 * A search, xAI's `search_price` (USD cents per 100M searches), from a tool price in USD per 1,000
 * calls scaled by 1e6: p/1e9 USD per call is p/1e7 cents, times 1e8 searches.
 */
export function toXaiSearchPrice(scaledPer1000: number): number {
  return scaledPer1000 * 10;
}
