import type { Usage } from "../../money/usage";
import { readUsage, usageJson, type RawUsage } from "../providers/usage";
import { parseJsonObject } from "../../lib/json-object";
import { eventData, sseEvent } from "../sse";
import { deltaTokens, MALFORMED, PASS } from "../tap";
import { chatCallText, chatReasoning, str } from "./output-text";
import type { EventTap, TapContext, TapResult } from "./types";

type Chunk = { choices?: { index?: number; delta?: Record<string, unknown>; finish_reason?: unknown }[]; usage?: RawUsage | null; error?: unknown };

const DONE: TapResult = { done: true, final: "data: [DONE]\n\n" };
const DROP: TapResult = {};
const UPSTREAM_ERROR: TapResult = { pass: true, error: "upstream" };

/** Tokens carried by a chunk (content, reasoning, refusals, tool calls), choice by choice. */
function chunkTokens(c: Chunk): number {
  let n = 0;
  for (const ch of c.choices ?? []) {
    const d = ch.delta;
    if (!d) continue;
    if (typeof d.content === "string") n += deltaTokens(d.content);
    n += deltaTokens(chatReasoning(d));
    if (typeof d.refusal === "string") n += deltaTokens(d.refusal);
    if (Array.isArray(d.tool_calls)) for (const t of d.tool_calls) n += deltaTokens(chatCallText(t));
    // The legacy `functions` API streams its one call here.
    const f = d.function_call as { arguments?: unknown; name?: unknown } | undefined;
    if (f && typeof f === "object") n += deltaTokens(str(f.name) + str(f.arguments));
  }
  return n;
}

/**
 * The tap on a chat (or completions) stream: reads the usage chunk (normalised, its cost the
 * customer's charge, or hidden when the client did not ask for usage), counts the output
 * delivered, and ends on `[DONE]` (forwarded only after the charge).
 */
export class ChatTap implements EventTap {
  usage: Usage | null = null;
  deliveredTokens = 0;
  ttftMs: number | null = null;
  readonly endEvent = DONE.final;
  /** Choices begun and not finished yet, by index; the usage-only chunk comes after them all. */
  private readonly open = new Set<number>();
  private finished = false;
  private readonly started = performance.now();

  constructor(
    private readonly o: TapContext,
    private readonly count: (c: Chunk) => number = chunkTokens,
  ) {}

  handle(evt: string): TapResult {
    const data = eventData(evt);
    if (data === null) return PASS;
    // A payload starting with "{" cannot be [DONE]: skip the trim for the usual chunk.
    if (data.charCodeAt(0) !== 123 && data.trim() === "[DONE]") return DONE;
    const chunk = parseJsonObject<Chunk>(data);
    if (!chunk) return MALFORMED;
    if (chunk.error) return UPSTREAM_ERROR;
    this.follow(chunk);
    const tokens = this.count(chunk);
    if (tokens > 0) {
      this.deliveredTokens += tokens;
      this.ttftMs ??= Math.round(performance.now() - this.started);
    }
    if (chunk.usage && typeof chunk.usage === "object") return this.usageChunk(chunk, chunk.usage);
    if (!this.o.clientWantsUsage && chunk.usage === null) {
      delete chunk.usage;
      return { out: sseEvent(chunk) };
    }
    return PASS;
  }

  get complete(): boolean {
    return this.finished && this.open.size === 0;
  }

  /** Whole: a choice that begins after this one finished (no upstream does so) makes it false again. */
  get answered(): boolean {
    return this.complete;
  }

  /** Which choices are under way: an upstream reporting usage on every chunk has not finished with it. */
  private follow(c: Chunk): void {
    if (Array.isArray(c.choices) && c.choices.length === 0 && c.usage) this.finished = true;
    for (const ch of c.choices ?? []) {
      const i = typeof ch.index === "number" ? ch.index : 0;
      if (ch.finish_reason != null) {
        this.open.delete(i);
        this.finished = true;
      } else this.open.add(i);
    }
  }

  /** The usage chunk: read, then shown normalised with the customer's cost, or hidden. */
  private usageChunk(chunk: Chunk, raw: RawUsage): TapResult {
    const usage = readUsage(raw, this.o.adapter.reasoningIsExtra);
    this.usage = usage;
    // Unreadable usage is not shown (its charge, an estimate, is known only at the end).
    if (!this.o.clientWantsUsage || !usage) {
      if (!chunk.choices || chunk.choices.length === 0) return DROP;
      delete chunk.usage;
    } else {
      chunk.usage = usageJson(raw, usage, this.o.price(usage));
    }
    return { out: sseEvent(chunk) };
  }
}

export type { Chunk as ChatChunk };
