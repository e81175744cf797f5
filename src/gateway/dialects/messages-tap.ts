import type { Tool } from "../../config/schema";
import type { Usage } from "../../money/usage";
import { hideCostOf, readable, readExtras, tokenCount as n, withToolCalls } from "../providers/usage";
import { parseJsonObject } from "../../lib/json-object";
import { eventData } from "../sse";
import { deltaTokens, MALFORMED, PASS, tally } from "../tap";
import { type Block, ServerToolRuns } from "./messages-tools";
import { str } from "./output-text";
import type { EventTap, TapContext, TapResult } from "./types";

/**
 * Usage in Anthropic's accounting: input_tokens exclude the cache reads and writes, which are
 * prompt tokens all the same (cache reads at the cached price).
 */
export function readMessagesUsage(raw: Record<string, unknown>): Usage | null {
  // No input count is no usage (an absent count reads as 0, which would make the prompt free).
  if (raw.input_tokens == null) return null;
  const read = n(raw.cache_read_input_tokens);
  const prompt = n(raw.input_tokens) + read + n(raw.cache_creation_input_tokens);
  return readable({ prompt, cached: read, completion: n(raw.output_tokens), reasoning: 0, ...readExtras(raw) });
}

type Event = {
  type?: string;
  message?: { usage?: Record<string, unknown> };
  content_block?: Block;
  delta?: { text?: unknown; partial_json?: unknown; thinking?: unknown; content?: unknown; stop_reason?: unknown };
  usage?: Record<string, unknown>;
};

const UPSTREAM_ERROR: TapResult = { pass: true, error: "upstream" };

/**
 * The tap on a Messages stream: message_start carries the input usage, every message_delta the
 * cumulative output (its cost, when the upstream adds one, shown as the customer's charge), and
 * message_stop, the last event, is held back until the charge has committed.
 */
export class MessagesTap implements EventTap {
  usage: Usage | null = null;
  deliveredTokens = 0;
  ttftMs: number | null = null;
  /** The prompt as message_start reported it (a stream cut before any message_delta is charged it); null when it did not. */
  inputUsage: Usage | null = null;
  /** The usage so far: message_start's, with every message_delta's counters laid onto it in turn. */
  private merged: Record<string, unknown> = {};
  /** A message_delta gave the stop reason: the message is whole (only message_stop may be missing). */
  complete = false;
  get answered(): boolean {
    return this.complete;
  }
  readonly endEvent = 'event: message_stop\ndata: {"type":"message_stop"}\n\n';
  private readonly started = performance.now();
  /** Server tool calls begun, and those whose result came (a call that ran). */
  private readonly runs = new ServerToolRuns();

  /** The server-side calls whose results came: what a stream cut before its usage is charged for them. */
  get toolCalls(): Partial<Record<Tool, number>> | null {
    return tally(this.runs.ran);
  }

  constructor(private readonly o: TapContext) {}

  handle(evt: string): TapResult {
    const data = eventData(evt);
    if (data === null) return PASS;
    const e = parseJsonObject<Event>(data);
    if (!e) return MALFORMED;
    switch (e.type) {
      case "message_start":
        return this.start(e);
      case "content_block_start":
        this.runs.see(e.content_block);
        return PASS;
      case "content_block_delta":
        return this.delta(e);
      case "message_delta":
        return this.outputUsage(e, evt);
      case "message_stop":
        return { done: true, final: `${evt}\n\n` };
      case "error":
        return UPSTREAM_ERROR;
      default:
        return PASS;
    }
  }

  /** The input usage; an upstream cost in it is shown as the prompt's charge (the operator's cost never reaches a customer). */
  private start(e: Event): TapResult {
    const raw = e.message?.usage;
    const usage = raw && typeof raw === "object" ? raw : undefined;
    this.merged = { ...usage, output_tokens: 0 };
    // null without input_tokens (see readMessagesUsage): the prompt's estimate is charged then.
    this.inputUsage = readMessagesUsage(this.merged);
    // The prompt's cost is not the request's: only a cost in message_delta is (else the list prices).
    delete this.merged.cost_in_usd_ticks;
    if (!usage || !("cost_in_usd_ticks" in usage)) return PASS;
    hideCostOf(usage, this.inputUsage, this.o.price);
    return { out: `event: message_start\ndata: ${JSON.stringify(e)}\n\n` };
  }

  /**
   * Output the model wrote: text, tool input (of client, server and MCP tools alike), thinking, and a
   * compaction's summary (`content`). A signature or a citation's quoted text is not billed output.
   */
  private delta(e: Event): TapResult {
    const d = e.delta ?? {};
    const text = str(d.text) || str(d.partial_json) || str(d.thinking) || str(d.content);
    if (text) {
      this.deliveredTokens += deltaTokens(text);
      this.ttftMs ??= Math.round(performance.now() - this.started);
    }
    return PASS;
  }

  /**
   * Cumulative usage: there may be several message_delta events, and each gives only the counters
   * it has, so a counter keeps the last value any event gave (message_start's, an earlier delta's),
   * as the SDKs' final message has it. Output counts with no input_tokens on any event are not the
   * request's usage: the stream is charged as one without usage (the prompt's estimate and the
   * output delivered).
   */
  private outputUsage(e: Event, evt: string): TapResult {
    if (e.delta?.stop_reason != null) this.complete = true;
    if (!e.usage || typeof e.usage !== "object") return PASS;
    // An earlier delta's cost covers only the output so far: only the latest usage's own cost counts (else the list prices).
    delete this.merged.cost_in_usd_ticks;
    // A counter given as null keeps the earlier one (as the SDKs read it): only values overwrite.
    for (const [k, v] of Object.entries(e.usage)) if (v !== null) this.merged[k] = v;
    // An upstream whose usage counts no server tool calls is charged the ones the blocks showed run.
    this.usage = withToolCalls(readMessagesUsage(this.merged), this.merged, this.runs.ran);
    if (!("cost_in_usd_ticks" in e.usage)) return PASS;
    hideCostOf(e.usage, this.usage, this.o.price);
    return { out: `event: message_delta\ndata: ${JSON.stringify(e)}\n\n`, pass: undefined };
  }
}
