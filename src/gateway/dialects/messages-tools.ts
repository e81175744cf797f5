import type { Tool } from "../../config/schema";

/** Anthropic's server tools by the name of their server_tool_use block → the tool as priced. */
const SERVER_TOOLS: Record<string, Tool> = {
  web_search: "web_search",
  x_search: "x_search",
  code_execution: "code_execution",
  bash_code_execution: "code_execution",
  text_editor_code_execution: "code_execution",
};

export type Block = { type?: unknown; id?: unknown; name?: unknown; tool_use_id?: unknown; content?: unknown };

/**
 * The server tool calls a message's content blocks show run: a server_tool_use block counts once
 * its result block came, unless that result is an error (not billed). Fed block by block, from a
 * stream's content_block_start events or a whole message's content.
 */
export class ServerToolRuns {
  /** Calls begun (server_tool_use blocks, by id). */
  private readonly begun = new Map<string, Tool>();
  /** Calls whose result came, in order. */
  readonly ran: Tool[] = [];

  see(b: Block | undefined): void {
    if (!b || typeof b !== "object") return;
    if (b.type === "server_tool_use" && typeof b.id === "string" && typeof b.name === "string") {
      const tool = Object.hasOwn(SERVER_TOOLS, b.name) ? SERVER_TOOLS[b.name] : undefined;
      if (tool) this.begun.set(b.id, tool);
      return;
    }
    const tool = typeof b.tool_use_id === "string" ? this.begun.get(b.tool_use_id) : undefined;
    if (!tool || failed(b.content)) return;
    this.begun.delete(b.tool_use_id as string);
    this.ran.push(tool);
  }
}

/** The calls a whole message's content shows run. */
export function messageToolRuns(content: unknown): Tool[] {
  const runs = new ServerToolRuns();
  if (Array.isArray(content)) for (const b of content) runs.see(b as Block);
  return runs.ran;
}

/** A tool result that is an error (`{"type": "web_search_tool_result_error", …}`): the call is not billed. */
const failed = (content: unknown): boolean =>
  content !== null && typeof content === "object" && !Array.isArray(content) && /_error$/.test(String((content as { type?: unknown }).type));
