import type { Tool } from "../../config/schema";
import type { Usage } from "../../money/usage";
import { toolCallOf } from "../providers/usage";
import { parseJsonObject } from "../../lib/json-object";
import { eventData } from "../sse";
import { deltaTokens, MALFORMED, PASS, tally } from "../tap";
import { readResponsesUsage, showResponsesUsage } from "./responses-usage";
import { itemIds } from "../stored-objects";
import type { EventTap, StoredRef, TapContext, TapResult } from "./types";

type Event = {
  type?: string;
  sequence_number?: unknown;
  delta?: unknown;
  item?: unknown;
  output_index?: unknown;
  response?: { id?: unknown; usage?: Record<string, unknown> | null; store?: unknown; output?: unknown };
};

const UPSTREAM_ERROR: TapResult = { pass: true, error: "upstream" };
/**
 * Deltas that carry output the model generated (text, reasoning, refusals, and what it writes for
 * a tool: function and MCP arguments, custom tool input, code, shell commands), all billed as output.
 */
const OUTPUT_DELTAS = new Set([
  "response.output_text.delta",
  "response.reasoning_text.delta",
  "response.reasoning_summary_text.delta",
  "response.function_call_arguments.delta",
  "response.custom_tool_call_input.delta",
  "response.mcp_call_arguments.delta",
  "response.code_interpreter_call_code.delta",
  "response.shell_call_command.delta",
  "response.refusal.delta",
]);

/** An error event of a Responses stream (what the SDKs read as a failure), numbered after the events the tap saw. */
export const responsesErrorEvent = (message: string, code: string, tap?: EventTap): string =>
  `event: error\ndata: ${JSON.stringify({ type: "error", code, message, param: null, sequence_number: tap?.nextSequence?.() ?? 0 })}\n\n`;

/**
 * The tap on a Responses stream (named events, no [DONE]): counts output deltas, takes the usage
 * from the final response (completed, incomplete or failed, its cost shown as the customer's
 * charge), and holds a completed or incomplete one back until the charge has committed.
 */
export class ResponsesTap implements EventTap {
  usage: Usage | null = null;
  deliveredTokens = 0;
  ttftMs: number | null = null;
  /** The stored response this stream created (null when store is false). */
  private responseId: string | null = null;
  /** Its output items so far (each item's events, then the final response's output): stored with it. */
  private readonly items = new Set<string>();
  /** Server-side tool calls among its output items, by item id (or position): each done event and the final output name the same call. */
  private readonly calls = new Map<string, Tool>();
  private readonly started = performance.now();
  /** The last sequence_number the upstream sent (-1: none yet). */
  private seq = -1;
  /** Output items begun and not done yet (by output_index), and how many are done. */
  private readonly open = new Set<unknown>();
  private doneItems = 0;

  constructor(private readonly o: TapContext) {}

  /** The stored response and its items, for the meter to record with the charge. */
  get stored(): StoredRef | null {
    return this.responseId === null ? null : { id: this.responseId, items: [...this.items] };
  }

  /** The server-side calls done so far: what a stream cut before its usage is charged for them. */
  get toolCalls(): Partial<Record<Tool, number>> | null {
    return tally(this.calls.values());
  }

  /** Every output item done: what is left is response.completed, with the usage (another item makes it false again). */
  get answered(): boolean {
    return this.doneItems > 0 && this.open.size === 0;
  }

  /** The number an event the gateway adds (an error) takes: one past the upstream's last. */
  nextSequence(): number {
    return this.seq + 1;
  }

  handle(evt: string): TapResult {
    const data = eventData(evt);
    if (data === null) return PASS;
    const e = parseJsonObject<Event>(data);
    if (!e) return MALFORMED;
    if (typeof e.sequence_number === "number") this.seq = e.sequence_number;
    const type = e.type ?? "";
    if (OUTPUT_DELTAS.has(type)) return this.delta(e);
    if (type === "response.created" && e.response) this.responseId = storedId(e.response);
    // A stream cut before its final event still stored the items it announced.
    if (type === "response.output_item.added" || type === "response.output_item.done") this.item(type, e);
    if (type === "response.output_item.done") this.addCall(e.item, e.output_index);
    if (type === "response.completed" || type === "response.incomplete") return this.last(type, e);
    if (type === "response.failed" || type === "error") return this.failed(type, e);
    const usage = e.response?.usage;
    if (usage && typeof usage === "object" && "cost_in_usd_ticks" in usage) {
      // The operator's cost never reaches a customer: only the final event shows one, the charge.
      delete usage.cost_in_usd_ticks;
      return { out: `event: ${type}\ndata: ${JSON.stringify(e)}\n\n` };
    }
    return PASS;
  }

  /** A failure the upstream billed: its usage is charged, and its cost shown as that charge, like a completion's. */
  private failed(type: string, e: Event): TapResult {
    this.addCalls(e.response?.output);
    if (!this.takeUsage(e.response)) return UPSTREAM_ERROR;
    return { out: `event: ${type}\ndata: ${JSON.stringify(e)}\n\n`, error: "upstream" };
  }

  private delta(e: Event): TapResult {
    if (typeof e.delta === "string" && e.delta.length > 0) {
      this.deliveredTokens += deltaTokens(e.delta);
      this.ttftMs ??= Math.round(performance.now() - this.started);
    }
    return PASS;
  }

  /** The final response: its usage read, its cost replaced, the event itself held for after the charge. */
  private last(type: string, e: Event): TapResult {
    this.responseId = storedId(e.response ?? {});
    this.addItems(e.response?.output);
    this.addCalls(e.response?.output);
    this.takeUsage(e.response);
    return { done: true, final: `event: ${type}\ndata: ${JSON.stringify(e)}\n\n` };
  }

  /** An output item begun or done: kept with the stored response, and followed for `answered`. */
  private item(type: string, e: Event): void {
    this.addItems([e.item]);
    if (type === "response.output_item.added") this.open.add(e.output_index);
    else {
      this.open.delete(e.output_index);
      this.doneItems++;
    }
  }

  private addItems(items: unknown): void {
    for (const id of itemIds(items)) this.items.add(id);
  }

  private addCalls(output: unknown): void {
    if (Array.isArray(output)) output.forEach((item, i) => this.addCall(item, i));
  }

  private addCall(item: unknown, index: unknown): void {
    const tool = toolCallOf(item);
    if (!tool) return;
    const id = (item as { id?: unknown }).id;
    this.calls.set(typeof id === "string" ? id : `#${String(index)}`, tool);
  }

  /** Reads a final response's usage, if it has one, and shows the customer's charge in its place. */
  private takeUsage(response: Event["response"]): boolean {
    const raw = response?.usage && typeof response.usage === "object" ? response.usage : null;
    if (!raw) return false;
    this.usage = readResponsesUsage(raw, this.calls.values());
    showResponsesUsage(raw, this.usage, this.o.price);
    return true;
  }
}

const storedId = (r: { id?: unknown; store?: unknown }): string | null => (typeof r.id === "string" && r.store !== false ? r.id : null);
