import type { Model } from "../config/load";
import { DEFAULT_TOOL_PRICES, TOOLS, type Tool } from "../config/schema";
import { costMicros, type Usage } from "./usage";

/** What a request is priced at: per token (scaled by 1e6), per image, per 1,000 tool calls. */
export interface Prices {
  input_price: number;
  cached_input_price: number;
  output_price: number;
  image_price: number;
  tool_prices: Readonly<Record<Tool, number>>;
}

/** What a model's charges depend on: its prices and pricing mode (kept with a deferred request, whose model may leave the catalogue). */
export type ModelPrices = Pick<
  Model,
  "pricing" | "markup_percent" | "input_price" | "cached_input_price" | "output_price" | "image_price" | "tool_prices" | "long_context" | "upstream_cost"
>;

/** The prices of a model, alone (its other settings left out). */
export function pricesOf(m: ModelPrices): ModelPrices {
  const { pricing, markup_percent, input_price, cached_input_price, output_price, image_price, tool_prices, long_context, upstream_cost } = m;
  return { pricing, markup_percent, input_price, cached_input_price, output_price, image_price, tool_prices, long_context, upstream_cost };
}

/**
 * The customer's charge for a usage, in micros. `cost_plus`: the upstream's reported cost (every
 * tool, tier and image included), rounded up to micros, times (100 + markup) / 100, rounded up.
 * `list` (or an answer without a reported cost): tokens at the model's prices (its long-context
 * prices when the prompt is above their threshold), plus tool calls and images, rounded up once.
 */
export function chargeFor(u: Usage, m: ModelPrices): number {
  if (m.pricing === "cost_plus" && u.upstreamCost != null) return withMarkup(u.upstreamCost, m.markup_percent);
  return listCost(u, pricesFor(u.prompt, m));
}

/** The prices of a request whose prompt has `promptTokens` tokens. */
export function pricesFor(promptTokens: number, m: ModelPrices): Prices {
  const long = m.long_context;
  if (!long || promptTokens <= long.above_tokens) return m;
  return { ...m, input_price: long.input_price, cached_input_price: long.cached_input_price ?? long.input_price, output_price: long.output_price };
}

/** Usage × prices, exact: integers in 1e-6 micros, rounded up once. */
export function listCost(u: Usage, p: Prices): number {
  if (!u.tools && !u.images) return costMicros(u, p);
  let scaled =
    BigInt(u.prompt - u.cached) * BigInt(p.input_price) + BigInt(u.cached) * BigInt(p.cached_input_price) + BigInt(u.completion) * BigInt(p.output_price);
  // A tool price is per 1,000 calls: calls × price / 1000 micros, i.e. × 1000 in 1e-6 micros.
  for (const [tool, calls] of Object.entries(u.tools ?? {})) scaled += BigInt(calls ?? 0) * BigInt(p.tool_prices[tool as Tool] ?? 0) * 1000n;
  if (u.images) scaled += BigInt(u.images) * BigInt(p.image_price) * 1_000_000n;
  return Number((scaled + 999_999n) / 1_000_000n);
}

/** ⌈cost × (100 + markup) / 100⌉, the markup in percent (two decimals kept). */
export function withMarkup(costMicros: number, markupPercent: number): number {
  const hundredths = BigInt(Math.round(markupPercent * 100));
  return Number((BigInt(costMicros) * (10_000n + hundredths) + 9_999n) / 10_000n);
}

/** A worst case priced for the hold: cost-plus models hold their list price with the markup on top. */
export function holdFor(u: Usage, m: ModelPrices): number {
  const list = listCost(u, pricesFor(u.prompt, m));
  return m.pricing === "cost_plus" ? withMarkup(list, m.markup_percent) : list;
}

/**
 * What the upstream billed the operator: its reported cost, else the model's configured
 * upstream_cost prices applied to the usage, else unknown (null).
 */
export function upstreamCostFor(u: Usage, m: ModelPrices): number | null {
  if (u.upstreamCost != null) return u.upstreamCost;
  const c = m.upstream_cost;
  if (!c) return null;
  return listCost(u, {
    input_price: c.input_price,
    cached_input_price: c.cached_input_price ?? c.input_price,
    output_price: c.output_price,
    image_price: c.image_price ?? 0,
    tool_prices: { ...DEFAULT_TOOL_PRICES, ...c.tool_prices },
  });
}

/** Tools billed per call (Live Search is billed per source, and never counted among the calls). */
const CALL_TOOLS = TOOLS.filter((t) => t !== "live_search");

/**
 * The usage with its unnamed calls (Usage.unnamedTools) counted as calls of the dearest tool the
 * request enabled, as its hold counts them; when it enabled none the gateway knows (a new tool
 * type, a deferred result whose request is not kept), of the dearest tool the model prices per call.
 */
export function namedCalls(u: Usage, m: Pick<ModelPrices, "tool_prices">, enabled: readonly Tool[]): Usage {
  const { unnamedTools: unnamed, ...named } = u;
  if (unnamed === undefined) return u;
  const known = enabled.filter((t) => t !== "live_search");
  const tool = (known.length > 0 ? known : CALL_TOOLS).reduce((a, t) => (m.tool_prices[t] > m.tool_prices[a] ? t : a));
  return { ...named, tools: { ...u.tools, [tool]: (u.tools?.[tool] ?? 0) + unnamed } };
}
