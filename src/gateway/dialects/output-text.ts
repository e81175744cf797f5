/**
 * What a whole answer generated, as text, for an estimate when the upstream reports no usage:
 * every kind of output a stream's tap counts (text, reasoning, refusals, tool calls), so that an
 * answer does not cost less whole than streamed.
 */
type Obj = Record<string, unknown>;

/** A field's text, or nothing when it holds none. */
export const str = (v: unknown): string => (typeof v === "string" ? v : "");
/** The objects of a list; an answer whose list is something else is not readable (thrown: a 502). */
function objects(v: unknown): Obj[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new TypeError("a list of the answer is not a list");
  return v.filter((x): x is Obj => x !== null && typeof x === "object");
}
const json = (v: unknown): string => (v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v));

/**
 * A chat message's or delta's reasoning under either name: `reasoning_content` (DeepSeek, xAI) or
 * `reasoning` (OpenRouter, vLLM, Groq, Ollama); an upstream sending both carries the same text twice, written once.
 */
export const chatReasoning = (m: Obj): string => str(m.reasoning_content) || str(m.reasoning);

/** What the model wrote of a chat tool call: a function's name and arguments, or a custom tool's name and input. */
export function chatCallText(t: unknown): string {
  if (!t || typeof t !== "object") return "";
  const { function: f, custom } = t as { function?: Obj; custom?: Obj };
  return str(f?.name) + str(f?.arguments) + str(custom?.name) + str(custom?.input);
}

/**
 * Chat completions: each choice's content (a string, or a list of text parts), reasoning, refusal,
 * tool calls (a function's name and arguments, a custom tool's name and input) and the legacy
 * function call.
 */
export function chatOutputText(choices: unknown): string {
  let s = "";
  for (const c of objects(choices)) {
    const m = (c.message ?? {}) as Obj;
    s += (Array.isArray(m.content) ? objects(m.content).map((p) => str(p.text)).join("") : str(m.content)) + chatReasoning(m) + str(m.refusal);
    for (const t of objects(m.tool_calls)) s += chatCallText(t);
    if (m.function_call) for (const f of objects([m.function_call])) s += str(f.name) + str(f.arguments);
  }
  return s;
}

/** The tool uses of a Messages answer: the model wrote each one's name and input, the client's tools' and the server's alike. */
const TOOL_USES = new Set(["tool_use", "server_tool_use", "mcp_tool_use"]);

/**
 * Anthropic Messages: text, thinking, tool uses (name and input as JSON) and a compaction's summary
 * (a server tool's result is not the model's).
 */
export function messagesOutputText(content: unknown): string {
  let s = "";
  for (const b of objects(content)) {
    if (b.type === "text") s += str(b.text);
    else if (b.type === "thinking") s += str(b.thinking);
    else if (TOOL_USES.has(str(b.type))) s += str(b.name) + json(b.input);
    else if (b.type === "compaction") s += str(b.content);
  }
  return s;
}

/**
 * What the model wrote of each kind of Responses tool call (the stream's deltas of it): a tool's
 * own output (an MCP server's answer, the code's logs) is not the model's.
 */
const CALL_FIELDS = new Map([
  ["function_call", ["name", "arguments"]],
  ["custom_tool_call", ["name", "input"]],
  ["mcp_call", ["name", "arguments"]],
  ["code_interpreter_call", ["code"]],
]);
const shellCommands = (action: unknown): string => {
  const commands = (action as Obj | null)?.commands;
  return Array.isArray(commands) ? commands.map(str).join("") : "";
};

/** Responses: output text and refusals, reasoning text, and tool calls (what the model wrote of each). */
export function responsesOutputText(output: unknown): string {
  let s = "";
  for (const item of objects(output)) {
    for (const f of CALL_FIELDS.get(str(item.type)) ?? []) s += str(item[f]);
    if (item.type === "shell_call") s += shellCommands(item.action);
    for (const part of [...objects(item.content), ...objects(item.summary)]) {
      if (part.type === "output_text" || part.type === "summary_text" || part.type === "reasoning_text") s += str(part.text);
      else if (part.type === "refusal") s += str(part.refusal);
    }
  }
  return s;
}
