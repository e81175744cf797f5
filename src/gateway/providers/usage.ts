import type { Tool } from "../../config/schema";
import type { Usage } from "../../money/usage";

export { costMicros, costMicrosBig, type Usage } from "../../money/usage";

/** xAI reports cost in ticks: 1 USD = 10^10 ticks, so 1 micro = 10^4 ticks. */
export const TICKS_PER_MICRO = 10_000;

/** xAI's usage counters of server-side tools (server_side_tool_usage_details) → the tool priced. */
const TOOL_COUNTERS: Record<string, Tool> = {
  web_search_calls: "web_search",
  web_search_requests: "web_search",
  x_search_calls: "x_search",
  code_interpreter_calls: "code_execution",
  code_execution_calls: "code_execution",
  document_search_calls: "attachment_search",
  attachment_search_calls: "attachment_search",
  file_search_calls: "collections_search",
  collections_search_calls: "collections_search",
  mcp_calls: "mcp",
  image_generation_calls: "image_generation",
};

/**
 * OpenAI's server-side tool calls, which it reports as output items of a response, not as
 * usage counters → the tool priced (file search is the collections search of xAI's prices).
 */
const TOOL_CALL_ITEMS: Record<string, Tool> = {
  web_search_call: "web_search",
  file_search_call: "collections_search",
  code_interpreter_call: "code_execution",
  image_generation_call: "image_generation",
  mcp_call: "mcp",
};

/**
 * The server-side tool an output item is a call of; null for anything else (a message, a function
 * call: the client's own) and for a call that did not succeed. Upstreams bill successful calls
 * only: a call counts once "completed", or when it carries no status (xAI may leave it out, and an
 * mcp_call may have none) and names no error; one still in progress, searching, incomplete or
 * failed when the response ended is no call.
 */
export function toolCallOf(item: unknown): Tool | null {
  if (!item || typeof item !== "object") return null;
  const { type, status, error } = item as { type?: unknown; status?: unknown; error?: unknown };
  if (typeof type !== "string" || !Object.hasOwn(TOOL_CALL_ITEMS, type)) return null;
  const succeeded = status === "completed" || (status == null && error == null);
  return succeeded ? TOOL_CALL_ITEMS[type]! : null;
}

/** Whether a usage object counts server-side tool calls itself (xAI's details, their total, Anthropic's server_tool_use). */
const countsTools = (raw: Record<string, unknown>): boolean =>
  raw.num_server_side_tools_used != null || isObject(raw.server_side_tool_usage_details) || isObject(raw.server_tool_use);
const isObject = (v: unknown): boolean => v !== null && typeof v === "object";

/**
 * The usage with the tool calls an answer's output items show (`calls`, from toolCallOf), when
 * the usage has no tool counters of its own: an upstream that counts them (xAI) lists the same
 * calls as items too, and each call is charged once. Calls it counts without naming their tool
 * take the tool of the items its counters leave over.
 */
export function withToolCalls(u: Usage | null, raw: Record<string, unknown>, calls: Iterable<Tool | null>): Usage | null {
  if (!u) return u;
  if (countsTools(raw)) return u.unnamedTools ? namedByItems(u, calls) : u;
  let tools: Partial<Record<Tool, number>> | undefined;
  for (const t of calls) if (t) (tools ??= { ...u.tools })[t] = (tools[t] ?? 0) + 1;
  return tools ? { ...u, tools } : u;
}

/** Unnamed calls named after the items of each tool beyond what the counters name; the rest stay unnamed. */
function namedByItems(u: Usage, calls: Iterable<Tool | null>): Usage {
  const items: Partial<Record<Tool, number>> = {};
  for (const t of calls) if (t) items[t] = (items[t] ?? 0) + 1;
  const tools = { ...u.tools };
  let unnamed = u.unnamedTools ?? 0;
  for (const [tool, count] of Object.entries(items) as [Tool, number][]) {
    const more = Math.min(unnamed, count - (tools[tool] ?? 0));
    if (more <= 0) continue;
    tools[tool] = (tools[tool] ?? 0) + more;
    unnamed -= more;
  }
  const { unnamedTools: _, ...rest } = u;
  return unnamed > 0 ? { ...rest, tools, unnamedTools: unnamed } : { ...rest, tools };
}

/**
 * Tool calls and the upstream's cost from a usage object (chat, responses, messages, images).
 * xAI's total of calls (num_server_side_tools_used) above what its details name, or without any
 * details, are calls all the same: `unnamedTools`, priced by the meter.
 */
export function readExtras(raw: Record<string, unknown>): Pick<Usage, "tools" | "unnamedTools" | "upstreamCost"> {
  const out: Pick<Usage, "tools" | "unnamedTools" | "upstreamCost"> = {};
  const ticks = raw.cost_in_usd_ticks;
  if (typeof ticks === "number" && Number.isFinite(ticks) && ticks >= 0) out.upstreamCost = Math.ceil(ticks / TICKS_PER_MICRO);
  // Live Search (search_parameters) is billed per source used, priced like a tool.
  const sources = n(raw.num_sources_used);
  if (sources > 0) out.tools = { live_search: sources };
  // xAI's counters; Anthropic's own shape (server_tool_use) when a Messages upstream reports that instead.
  const details = raw.server_side_tool_usage_details ?? raw.server_tool_use;
  if (details && typeof details === "object") {
    for (const [counter, calls] of Object.entries(details as Record<string, unknown>)) {
      const tool = Object.hasOwn(TOOL_COUNTERS, counter) ? TOOL_COUNTERS[counter] : undefined;
      const count = n(calls);
      if (tool && count > 0) (out.tools ??= {})[tool] = (out.tools[tool] ?? 0) + count;
    }
  }
  // NaN (a total that is no count) is no call: the counters named are still charged.
  const unnamed = n(raw.num_server_side_tools_used) - namedCount(out.tools);
  if (unnamed > 0) out.unnamedTools = unnamed;
  return out;
}

/** Calls of the tools billed per call (Live Search sources are not calls). */
function namedCount(tools: Usage["tools"]): number {
  let sum = 0;
  for (const [tool, calls] of Object.entries(tools ?? {})) if (tool !== "live_search") sum += calls ?? 0;
  return sum;
}

/**
 * What a customer sees of the upstream's cost field: what that customer was charged, in the
 * same unit. The operator's real cost never reaches a customer.
 */
export function hideCost(raw: Record<string, unknown>, chargeMicros: number): void {
  if ("cost_in_usd_ticks" in raw) raw.cost_in_usd_ticks = chargeMicros * TICKS_PER_MICRO;
}

/** hideCost with the charge of `u`; for unreadable usage (no charge known yet) the cost is taken out. */
export function hideCostOf(raw: Record<string, unknown>, u: Usage | null, price: (u: Usage) => number): void {
  if (u) hideCost(raw, price(u));
  else delete raw.cost_in_usd_ticks;
}

export interface RawUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number; [k: string]: unknown } | null;
  completion_tokens_details?: { reasoning_tokens?: number; [k: string]: unknown } | null;
  [k: string]: unknown;
}

/**
 * A count as reported: absent (undefined, null) is 0, a number ≥ 0 is rounded up, anything else
 * (a string, a negative, NaN) is NaN, which makes the whole usage unreadable (see `readable`).
 */
export const tokenCount = (v: unknown): number => (v == null ? 0 : typeof v === "number" && v >= 0 ? Math.ceil(v) : Number.NaN);

/** The usage, or null when a count in it is no count: charged then as an answer without usage is (estimated), never as zero. */
export const readable = (u: Usage): Usage | null => (Number.isNaN(u.prompt + u.cached + u.completion + u.reasoning) ? null : u);

const n = tokenCount;

/**
 * Reads upstream usage under either accounting. OpenAI: completion includes reasoning. xAI:
 * completion excludes reasoning and total = prompt + completion + reasoning. `total - prompt`
 * is the billable output under both, so it wins whenever total is present.
 */
export function readUsage(raw: RawUsage, reasoningIsExtra: boolean): Usage | null {
  // No prompt count is no usage (an absent count reads as 0, which would make the prompt free).
  if (raw.prompt_tokens == null) return null;
  const prompt = n(raw.prompt_tokens);
  const completion = n(raw.completion_tokens);
  const reasoning = n(raw.completion_tokens_details?.reasoning_tokens);
  const output =
    raw.total_tokens !== undefined
      ? Math.max(completion, n(raw.total_tokens) - prompt)
      : completion + (reasoningIsExtra ? reasoning : 0);
  return readable({ prompt, cached: Math.min(n(raw.prompt_tokens_details?.cached_tokens), prompt), completion: output, reasoning, ...readExtras(raw) });
}

/**
 * The usage object returned to clients, normalised to OpenAI accounting, other fields kept, and
 * the upstream's cost (if it reports one) replaced by the customer's charge.
 */
export function usageJson(raw: RawUsage, u: Usage, chargeMicros: number): RawUsage {
  const shown: RawUsage = {
    ...raw,
    prompt_tokens: u.prompt,
    completion_tokens: u.completion,
    total_tokens: u.prompt + u.completion,
    prompt_tokens_details: { ...raw.prompt_tokens_details, cached_tokens: u.cached },
    completion_tokens_details: { ...raw.completion_tokens_details, reasoning_tokens: u.reasoning },
  };
  hideCost(shown, chargeMicros);
  return shown;
}

