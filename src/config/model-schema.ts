import { z } from "zod";
import { isMarkupPercent, MARKUP_RULE, usdToMicros } from "../money/units";
import { int } from "./numbers";

/** Upstream providers, deployments, tools and models: the catalogue part of the configuration. */

/** A USD amount given as number or string, kept as an exact integer scaled by 1e6. */
export const scaledUsd = z
  // A missing price says "required", not zod's "Invalid input" for a union nothing matched.
  .union([z.number(), z.string()], { error: (iss) => (iss.input === undefined ? "required" : "expected a USD amount (a number or a decimal string)") })
  .transform((v, ctx) => {
    try {
      const micros = usdToMicros(typeof v === "number" ? String(v) : v);
      if (micros < 0) throw new Error("must not be negative");
      return micros;
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  });

export const ProviderSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "lowercase letters, digits, - and _"),
  base_url: z.url({ protocol: /^https?$/ }),
  /** Adapter: "xai" (usage and error quirks of api.x.ai) or "openai" (any OpenAI-compatible host). */
  kind: z.enum(["openai", "xai"]).optional(),
  api_key: z.string().min(1).optional(),
  /** Name of an environment variable holding the key (resolved once at load). */
  api_key_env: z.string().min(1).optional(),
  /** Path of a file holding the key (resolved once at load). */
  api_key_file: z.string().min(1).optional(),
  /** Several upstream keys: requests are spread across them (env/file forms may hold a comma list). */
  api_keys: z.array(z.string().min(1)).min(1).optional(),
  headers: z.record(z.string(), z.string()).default({}),
});

/** One provider serving a model; lower `priority` is tried first, `weight` spreads load within a priority. */
export const DeploymentSchema = z.strictObject({
  provider: z.string().min(1),
  upstream_model: z.string().min(1).optional(),
  priority: int(0, 1000).default(0),
  weight: int(1, 1000).default(1),
});

/**
 * Server-side tools the upstream bills per call (xAI's names); prices are USD per 1,000 calls.
 * `live_search` is xAI's Live Search (search_parameters), billed per source used, not per call.
 */
export const TOOLS = ["web_search", "x_search", "code_execution", "attachment_search", "collections_search", "mcp", "image_generation", "live_search"] as const;
export type Tool = (typeof TOOLS)[number];

/** xAI's list prices per 1,000 successful calls (docs.x.ai pricing), scaled like every USD amount. */
export const DEFAULT_TOOL_PRICES: Readonly<Record<Tool, number>> = {
  web_search: 5_000_000,
  x_search: 5_000_000,
  code_execution: 5_000_000,
  attachment_search: 10_000_000,
  collections_search: 2_500_000,
  mcp: 0,
  image_generation: 20_000_000,
  // $25 per 1,000 sources (usage.num_sources_used).
  live_search: 25_000_000,
};

const ToolPricesSchema = z.partialRecord(z.enum(TOOLS), scaledUsd);

/** Prices above a prompt size (some models bill the whole request higher beyond a context length). */
const LongContextSchema = z.strictObject({
  above_tokens: int(1, Number.MAX_SAFE_INTEGER),
  input_price: scaledUsd,
  cached_input_price: scaledUsd.optional(),
  output_price: scaledUsd,
});

/** What the upstream charges the operator, when it does not report the cost itself (margins). */
const UpstreamCostSchema = z.strictObject({
  input_price: scaledUsd,
  cached_input_price: scaledUsd.optional(),
  output_price: scaledUsd,
  image_price: scaledUsd.optional(),
  tool_prices: ToolPricesSchema.optional(),
});

export const ModelSchema = z.strictObject({
  id: z.string().min(1),
  /** The simple form: one provider. Either this or `deployments`. */
  provider: z.string().min(1).optional(),
  /** Several providers (failover by priority, load spread by weight). */
  deployments: z.array(DeploymentSchema).min(1).optional(),
  upstream_model: z.string().min(1).optional(),
  /** "chat": token-priced text models (chat, responses, messages, completions); "image": image generation. */
  kind: z.enum(["chat", "image"]).default("chat"),
  /** USD per 1M tokens, which is micros per token; stored scaled by 1e6. Required for chat models. */
  input_price: scaledUsd.optional(),
  cached_input_price: scaledUsd.optional(),
  output_price: scaledUsd.optional(),
  /** Image models: USD per image generated (required for them). */
  image_price: scaledUsd.optional(),
  /**
   * "list": the prices here. "cost_plus": the upstream's own reported cost (xAI's
   * cost_in_usd_ticks: tools, tiers and images included) plus `markup_percent`; the list prices
   * then bound the hold and price answers that report no cost.
   */
  pricing: z.enum(["list", "cost_plus"]).default("list"),
  // Checked as written: a third decimal would be billed rounded (withMarkup keeps hundredths).
  markup_percent: z
    .number()
    .refine((v) => isMarkupPercent(String(v)), { error: (iss) => `expected ${MARKUP_RULE} (got ${String(iss.input)})` })
    .default(0),
  /**
   * Server-side tool calls, USD per 1,000 (list pricing); `live_search` per 1,000 sources used.
   * Missing tools take xAI's list prices.
   */
  tool_prices: ToolPricesSchema.optional(),
  /**
   * Calls of server-side tools (Live Search: sources) held for when a request enables them; usage
   * beyond is still charged.
   */
  tool_call_allowance: int(0, Number.MAX_SAFE_INTEGER).default(5),
  long_context: LongContextSchema.optional(),
  upstream_cost: UpstreamCostSchema.optional(),
  context_window: int(1, Number.MAX_SAFE_INTEGER).default(131072),
  max_output_tokens: int(1, Number.MAX_SAFE_INTEGER).default(32768),
  /**
   * Reasoning tokens the hold allows on top of the output limit (reasoning may run past
   * max_tokens; usage beyond the hold is still charged, as overage). Applied when the balance covers it.
   */
  reasoning_allowance_tokens: int(0, Number.MAX_SAFE_INTEGER).default(0),
  created: int(0, Number.MAX_SAFE_INTEGER).default(1735689600),
});
