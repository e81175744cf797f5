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

const NONE: readonly Tool[] = Object.freeze([]);

/** The server-side tools a request enables (function tools are the client's own and cost nothing extra). */
export function serverTools(tools: unknown): readonly Tool[] {
  if (!Array.isArray(tools) || tools.length === 0) return NONE;
  const out = new Set<Tool>();
  for (const t of tools) {
    const type = (t as { type?: unknown } | null)?.type;
    const tool = typeof type === "string" ? REQUEST_TOOLS[type] : undefined;
    if (tool) out.add(tool);
  }
  return [...out];
}
