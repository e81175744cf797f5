import type { z } from "zod";
import { ModelSchema, type ModelConfig } from "./schema";

/** A catalogue entry as a config file writes it: prices in USD (per 1M tokens, or per image). */
export type ModelEntry = z.input<typeof ModelSchema>;

/**
 * The day these prices were checked against xAI's docs. Sources, newest first (they agree on
 * every price below; where older pages differ, e.g. grok-4.20 at $2/$6 in March 2026, the newest
 * docs.x.ai page wins):
 * - https://docs.x.ai/developers/pricing (and /docs/pricing.md), the copy listing grok-4.7
 *   (released 2026-09-21): text prices with their long-context rows, Imagine prices.
 * - https://docs.x.ai/developers/models/<id> model pages: context windows, reasoning efforts.
 * - https://docs.x.ai/developers/migration/may-15-retirement (2026-05-06): grok-4-0709 and grok-3
 *   retired on 2026-05-15; their slugs still resolve and are served (and billed) as grok-4.3.
 */
export const CATALOGUE_CHECKED = "2026-12-06";

/** Reasoning tokens held on top of the output limit for models that think before answering. */
const REASONING_ALLOWANCE = 4096;

/**
 * xAI bills a whole request at the long-context rates once its prompt reaches 200k tokens;
 * `above_tokens` is exclusive (src/money/pricing.ts), hence 199,999.
 */
const LONG_FROM_200K = 199_999;

/** grok-4.3, grok-4.20 (all three): $1.25 / $0.20 / $2.50, doubled from 200k prompt tokens. */
const GROK_43_PRICES = {
  input_price: "1.25",
  cached_input_price: "0.2",
  output_price: "2.5",
  long_context: { above_tokens: LONG_FROM_200K, input_price: "2.5", cached_input_price: "0.4", output_price: "5" },
} as const;

/** grok-4.6 and grok-4.7: $2 / $0.50 / $6, doubled from 200k prompt tokens. */
const GROK_46_PRICES = {
  input_price: "2",
  cached_input_price: "0.5",
  output_price: "6",
  long_context: { above_tokens: LONG_FROM_200K, input_price: "4", cached_input_price: "1", output_price: "12" },
} as const;

const chat = (id: string, created: number, context_window: number, reasoning: boolean, prices: Partial<ModelEntry>): ModelEntry => ({
  id,
  provider: "xai",
  kind: "chat",
  context_window,
  max_output_tokens: 32768,
  reasoning_allowance_tokens: reasoning ? REASONING_ALLOWANCE : 0,
  created,
  ...prices,
});

const image = (id: string, created: number, image_price: string, upstream_model?: string): ModelEntry => ({
  id,
  provider: "xai",
  kind: "image",
  ...(upstream_model ? { upstream_model } : {}),
  image_price,
  created,
});

/** A retired chat model id xAI still answers, served (and billed) as grok-4.3. */
const retired = (id: string, created: number): ModelEntry => ({ ...chat(id, created, 1_000_000, true, GROK_43_PRICES), upstream_model: "grok-4.3" });

/**
 * xAI's current chat, reasoning, code and image models at their list prices (USD per 1M tokens;
 * per image for image models), newest first. `created` is the release day where xAI or its
 * announcement states one, else the day the model first appeared on the pricing page.
 */
const CATALOGUE: readonly ModelEntry[] = [
  chat("grok-4.7", 1789948800, 500_000, true, GROK_46_PRICES),
  chat("grok-4.6", 1786492800, 500_000, true, GROK_46_PRICES),
  chat("grok-4.5", 1783468800, 500_000, true, {
    input_price: "2",
    cached_input_price: "0.3",
    output_price: "6",
    long_context: { above_tokens: LONG_FROM_200K, input_price: "4", cached_input_price: "0.6", output_price: "12" },
  }),
  chat("grok-4.3", 1777507200, 1_000_000, true, GROK_43_PRICES),
  chat("grok-4.20-0309-reasoning", 1773014400, 1_000_000, true, GROK_43_PRICES),
  chat("grok-4.20-0309-non-reasoning", 1773014400, 1_000_000, false, GROK_43_PRICES),
  chat("grok-4.20-multi-agent-0309", 1773014400, 1_000_000, true, GROK_43_PRICES),
  // The coding model of Grok Build (grok-code-fast-1 was retired on 2026-05-15).
  chat("grok-build-0.1", 1779840000, 256_000, true, {
    input_price: "1",
    cached_input_price: "0.2",
    output_price: "2",
    long_context: { above_tokens: LONG_FROM_200K, input_price: "2", cached_input_price: "0.4", output_price: "4" },
  }),
  // Retired ids kept working: xAI serves them as grok-4.3 now, so they are aliases of it.
  retired("grok-4", 1752019200),
  retired("grok-3", 1744243200),
  retired("grok-4-0709", 1752019200),
  retired("grok-code-fast-1", 1756339200),
  retired("grok-4-fast-reasoning", 1758240000),
  retired("grok-4-fast-non-reasoning", 1758240000),
  retired("grok-4-1-fast-reasoning", 1763510400),
  retired("grok-4-1-fast-non-reasoning", 1763510400),
  image("grok-imagine-image", 1769472000, "0.02"),
  image("grok-imagine-image-2.0", 1786752000, "0.04"),
  image("grok-imagine-image-quality", 1778803200, "0.05"),
  image("grok-imagine-image-pro", 1769472000, "0.05", "grok-imagine-image-quality"),
];

/** The built-in catalogue as config-file entries (fresh copies: callers may edit them). */
export function catalogueEntries(): ModelEntry[] {
  return structuredClone(CATALOGUE) as ModelEntry[];
}

/** The built-in catalogue, used when the configuration defines no models. */
export function defaultModels(): ModelConfig[] {
  return CATALOGUE.map((m) => ModelSchema.parse(m));
}
