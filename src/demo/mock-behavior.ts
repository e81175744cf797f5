/**
 * What a mock answer does (server defaults, overridden per request by a `mock` object), its
 * usage and its cost. The cost follows xAI: `cost_in_usd_ticks`, 1 USD = 10^10 ticks, at the mock
 * prices below (tests compute the same number with mockCostTicks).
 */

/** Server-side tool calls to report, per tool (xAI's agentic tools). */
export interface MockTools {
  web_search?: number;
  x_search?: number;
  code_execution?: number;
  collections_search?: number;
  attachment_search?: number;
}

export interface MockBehavior {
  /** Output tokens to generate (one per chunk); default 12. */
  completion_tokens?: number;
  reasoning_tokens?: number;
  cached_tokens?: number;
  /** Default: about a token per four characters of the messages (prompt, input, system...). */
  prompt_tokens?: number;
  /** "openai": completion includes reasoning; "xai": excludes it, total adds it; "none": no usage. */
  usage?: "openai" | "xai" | "none";
  /** Wait before answering (ms). */
  delay_ms?: number;
  /** Wait between stream chunks (ms). */
  chunk_delay_ms?: number;
  /** Answer with this status and `error_body` instead of a completion. */
  status?: number;
  error_body?: unknown;
  retry_after?: string;
  /** Never answer ("headers") or stop sending after `after_chunks` chunks ("body"). */
  hang?: "headers" | "body";
  /** Cut the connection after this many chunks. */
  drop_after_chunks?: number;
  /** Send a malformed chunk after this many chunks. */
  malformed_after_chunks?: number;
  after_chunks?: number;
  text?: string;
  /**
   * Only the first N requests carrying this same `mock` object (per server) get its faults
   * (status, hang, delay, drop, malformed, fail_stream); later ones are answered normally. Retries
   * of one request carry the same object, so `fail_times: 1` fails the first attempt only.
   */
  fail_times?: number;
  /** Reasoning runs past max_tokens, as some reasoning models' does (the usage reports it all). */
  reasoning_beyond_max_tokens?: boolean;
  /** The faults apply only to requests made with this upstream key (Bearer or x-api-key); others are answered normally. */
  only_key?: string;
  /** usage.cost_in_usd_ticks: this number instead of the cost at the mock prices; null: no cost field. */
  cost_ticks?: number | null;
  /** Server-side tool calls reported in the usage (and added to the default cost). */
  tools?: MockTools;
  /** Live Search sources used (usage.num_sources_used), added to the default cost. */
  sources?: number;
  /** Per model (as asked upstream), its prices instead of MOCK_PRICES: the demo bills its catalogue's. */
  prices?: Readonly<Record<string, MockModelPrices>>;
  /** Deferred chat completions: pending (202) this long after creation; default 200 ms. */
  deferred_ms?: number;
  /** Deferred chat completions: forgotten (404) this long after creation; default never. */
  deferred_forget_ms?: number;
  /**
   * End a stream with an error after `after_chunks` tokens (default 0): Responses "failed" sends
   * response.failed, "error" an `error` event; Messages sends an `error` event either way; chat and
   * completions a `data: {"error": ...}` chunk. No [DONE] / completion event follows.
   */
  fail_stream?: "failed" | "error";
  /** Responses: the response.failed event carries the answer's usage and cost (an upstream billing the failure). */
  failed_usage?: boolean;
  /** Messages: after the text, the model calls this tool (a tool_use block, stop_reason "tool_use"). */
  tool_use?: { name: string; input: unknown };
  /** Messages: cache_creation_input_tokens (taken out of input_tokens, billed as input). */
  cache_creation_tokens?: number;
  /** Images: return this many images (fewer than `n`, as a moderated request may); billed per image returned. */
  images_returned?: number;
}

/** Mock prices: USD per 1M tokens (reasoning is billed as output), per image, per 1,000 tool calls. */
export const MOCK_PRICES = {
  input: 3,
  cached_input: 0.75,
  output: 15,
  image: 0.02,
  tools: { web_search: 5, x_search: 5, code_execution: 5, collections_search: 2.5, attachment_search: 10 },
  /** Live Search, per 1,000 sources. */
  sources: 25,
} as const;

export const TICKS_PER_USD = 10_000_000_000;

/** A model's prices, as MOCK_PRICES: USD per 1M tokens, per image. */
export interface MockModelPrices {
  input: number;
  cached_input: number;
  output: number;
  image: number;
}

/** Ticks per token (USD per 1M × 10^10 / 10^6), per image and per tool call: all integers. */
const TICKS = {
  input: MOCK_PRICES.input * 10_000,
  cached: MOCK_PRICES.cached_input * 10_000,
  output: MOCK_PRICES.output * 10_000,
  image: MOCK_PRICES.image * TICKS_PER_USD,
  source: (MOCK_PRICES.sources * TICKS_PER_USD) / 1000,
};
const toolTicks = (tool: keyof MockTools) => (MOCK_PRICES.tools[tool] * TICKS_PER_USD) / 1000;

export interface CostInputs {
  /** All prompt tokens, cached ones included (OpenAI accounting). */
  input_tokens?: number;
  cached_tokens?: number;
  /** All billable output tokens, reasoning included. */
  output_tokens?: number;
  images?: number;
  tools?: MockTools;
  sources?: number;
}

/** A model's prices as ticks per token and per image. */
const ticksOf = (p: MockModelPrices) => ({ ...TICKS, input: p.input * 10_000, cached: p.cached_input * 10_000, output: p.output * 10_000, image: p.image * TICKS_PER_USD });

/** What the mock bills, in ticks (1 USD = 10^10): tokens, images and tool calls at MOCK_PRICES (or the model's `prices`). */
export function mockCostTicks(u: CostInputs, prices?: MockModelPrices): number {
  const t = prices ? ticksOf(prices) : TICKS;
  const input = u.input_tokens ?? 0;
  const cached = Math.min(u.cached_tokens ?? 0, input);
  let ticks = (input - cached) * t.input + cached * t.cached + (u.output_tokens ?? 0) * t.output + (u.images ?? 0) * t.image + (u.sources ?? 0) * t.source;
  for (const [tool, calls] of Object.entries(u.tools ?? {})) {
    if (tool in MOCK_PRICES.tools) ticks += (calls ?? 0) * toolTicks(tool as keyof MockTools);
  }
  return Math.round(ticks);
}

/** The cost field of a usage object: `{ cost_in_usd_ticks }`, or nothing when `cost_ticks` is null. */
export function costField(b: MockBehavior, inputs: CostInputs, model?: unknown): { cost_in_usd_ticks?: number } {
  if (b.cost_ticks === null) return {};
  const prices = typeof model === "string" ? b.prices?.[model] : undefined;
  return { cost_in_usd_ticks: typeof b.cost_ticks === "number" ? b.cost_ticks : mockCostTicks({ ...inputs, tools: b.tools, sources: b.sources }, prices) };
}

/** xAI's server-side tool usage: every counter present (zeros included) and their sum. */
export function toolUsage(tools: MockTools = {}) {
  const details = {
    web_search_calls: tools.web_search ?? 0,
    x_search_calls: tools.x_search ?? 0,
    code_interpreter_calls: tools.code_execution ?? 0,
    file_search_calls: tools.collections_search ?? 0,
    document_search_calls: tools.attachment_search ?? 0,
    mcp_calls: 0,
    image_generation_calls: 0,
  };
  const used = Object.values(details).reduce((a, c) => a + c, 0);
  return { num_server_side_tools_used: used, server_side_tool_usage_details: details };
}

/** The tool fields of a usage object, only when the request's `mock` reports tool calls (or sources). */
export const toolFields = (b: MockBehavior) => ({ ...(b.tools ? toolUsage(b.tools) : {}), ...(b.sources === undefined ? {} : { num_sources_used: b.sources }) });

/** About a token per four characters of what the model reads. */
export function promptTokensOf(...parts: unknown[]): number {
  return Math.max(1, Math.ceil(JSON.stringify(parts.length === 1 ? (parts[0] ?? "") : parts).length / 4));
}

/**
 * Like a real model, the output (reasoning included) never exceeds `limit` unless the reasoning
 * runs past it (`reasoning_beyond_max_tokens`). `truncated`: the limit cut the answer.
 */
export function clampOutput(b: MockBehavior, limit: number): { b: MockBehavior; truncated: boolean } {
  if (b.reasoning_beyond_max_tokens || !Number.isFinite(limit)) return { b, truncated: false };
  const wanted = (b.completion_tokens ?? 12) + (b.reasoning_tokens ?? 0);
  const reasoning = Math.min(b.reasoning_tokens ?? 0, limit);
  return { b: { ...b, reasoning_tokens: reasoning, completion_tokens: Math.min(b.completion_tokens ?? 12, limit - reasoning) }, truncated: wanted > limit };
}

export type MockUsage = ReturnType<typeof mockUsage>;

/** Chat (and legacy completions) usage under the behaviour's accounting, with its cost and tool calls. */
export function mockUsage(b: MockBehavior, body: Record<string, unknown>, prompt = b.prompt_tokens ?? promptTokensOf(body.messages)) {
  const completion = b.completion_tokens ?? 12;
  const reasoning = b.reasoning_tokens ?? 0;
  const cached = Math.min(b.cached_tokens ?? 0, prompt);
  const xai = b.usage === "xai";
  return {
    prompt_tokens: prompt,
    completion_tokens: xai ? completion : completion + reasoning,
    total_tokens: prompt + completion + reasoning,
    prompt_tokens_details: { cached_tokens: cached },
    completion_tokens_details: { reasoning_tokens: reasoning },
    ...costField(b, { input_tokens: prompt, cached_tokens: cached, output_tokens: completion + reasoning }, body.model),
    ...toolFields(b),
  };
}
