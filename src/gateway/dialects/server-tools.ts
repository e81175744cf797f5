import type { Tool } from "../../config/schema";

/** Request tool types of the upstream's server-side tools → the tool as priced. */
const REQUEST_TOOLS: Record<string, Tool> = {
  web_search: "web_search",
  web_search_preview: "web_search",
  x_search: "x_search",
  code_interpreter: "code_execution",
  code_execution: "code_execution",
  file_search: "collections_search",
  collections_search: "collections_search",
  attachment_search: "attachment_search",
  mcp: "mcp",
  image_generation: "image_generation",
};

/**
 * A tool type without the version date OpenAI may add (`web_search_2025_08_26`,
 * `web_search_preview_2025_03_11`): a dated type enables the same paid tool, and must be held as it.
 */
const undated = (type: string): string => type.replace(/_\d{4}_\d{2}_\d{2}$/, "");

/** Anthropic's server tools (Messages), whose types carry a version date: web_search_20250305. */
const ANTHROPIC_TOOLS: Record<string, Tool> = {
  web_search: "web_search",
  code_execution: "code_execution",
};

const NONE: readonly Tool[] = Object.freeze([]);

/**
 * The server-side tools a request enables (function tools are the client's own and cost nothing
 * extra), and Live Search when its `search_parameters` do not turn it off (xAI's default mode is auto).
 */
export function serverTools(tools: unknown, searchParameters?: unknown): readonly Tool[] {
  const found = collect(tools, (type) => REQUEST_TOOLS[undated(type)]);
  return liveSearch(searchParameters) ? [...found, "live_search"] : found;
}

/** The server-side tools of a Messages request, in Anthropic's format (custom tools have no such type). */
export function anthropicServerTools(tools: unknown): readonly Tool[] {
  return collect(tools, (type) => {
    const versioned = /^([a-z_]+)_\d{8}$/.exec(type);
    return versioned ? ANTHROPIC_TOOLS[versioned[1]!] : undefined;
  });
}

function collect(tools: unknown, priced: (type: string) => Tool | undefined): readonly Tool[] {
  if (!Array.isArray(tools) || tools.length === 0) return NONE;
  const out = new Set<Tool>();
  for (const t of tools) {
    const type = (t as { type?: unknown } | null)?.type;
    const tool = typeof type === "string" ? priced(type) : undefined;
    if (tool) out.add(tool);
  }
  return out.size === 0 ? NONE : [...out];
}

const liveSearch = (p: unknown): boolean => p !== null && typeof p === "object" && !Array.isArray(p) && (p as { mode?: unknown }).mode !== "off";
