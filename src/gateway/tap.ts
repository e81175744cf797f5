import { readUsage, usageJson, type RawUsage, type Usage } from "./providers/usage";
import type { Meter } from "./meter";
import { eventData, sseEvent } from "./sse";

type Chunk = { choices?: { delta?: Record<string, unknown> }[]; usage?: RawUsage | null; error?: unknown };

/**
 * Tokens one delta of a stream delivered. Upstreams send about one token per chunk (OpenAI, xAI,
 * vLLM), so a short delta counts as one, whatever its length in characters (four characters a
 * token nearly doubled the estimate of a cut stream); a long delta is several tokens batched.
 */
export function deltaTokens(text: string): number {
  return text.length === 0 ? 0 : text.length <= 12 ? 1 : Math.ceil(text.length / 4);
}

/** Tokens carried by a chunk (content, reasoning, refusals, tool-call arguments), choice by choice. */
function chunkTokens(c: Chunk): number {
  let n = 0;
  for (const ch of c.choices ?? []) {
    const d = ch.delta;
    if (!d) continue;
    if (typeof d.content === "string") n += deltaTokens(d.content);
    if (typeof d.reasoning_content === "string") n += deltaTokens(d.reasoning_content);
    if (typeof d.refusal === "string") n += deltaTokens(d.refusal);
    if (Array.isArray(d.tool_calls)) {
      for (const t of d.tool_calls as { function?: { arguments?: string; name?: string } }[]) {
        n += deltaTokens((t.function?.name ?? "") + (t.function?.arguments ?? ""));
      }
    }
  }
  return n;
}

export interface TapOptions {
  meter: Meter;
  clientWantsUsage: boolean;
  reasoningIsExtra: boolean;
  promptEstimate: number;
  upstreamRequestId: string | null;
}

/**
 * What to do with one event: `pass` forwards it as it came, `out` forwards a rewrite instead,
 * neither drops it; `done` and `error` end the stream.
 */
export type TapResult = Readonly<{ pass?: true; out?: string; done?: true; error?: "malformed" | "upstream" }>;

// Shared results: the common outcomes allocate nothing per event.
const PASS: TapResult = { pass: true };
const DROP: TapResult = {};
const DONE: TapResult = { done: true };
const MALFORMED: TapResult = { error: "malformed" };
const UPSTREAM_ERROR: TapResult = { pass: true, error: "upstream" };

/**
 * The tap on a passing stream: reads the usage chunk (normalised, or hidden when the client did
 * not ask for it), counts the output delivered, and charges from what it saw.
 */
export class UsageTap {
  usage: Usage | null = null;
  deliveredTokens = 0;
  ttftMs: number | null = null;
  private readonly started = performance.now();

  constructor(private readonly o: TapOptions) {}

  /** Charges real usage when it arrived, else prompt + what was delivered (estimated). */
  finish(status: number, errorCode: string | null, chargeIfNothingDelivered: boolean): Promise<unknown> {
    const { meter, upstreamRequestId } = this.o;
    const ttftMs = this.ttftMs;
    if (this.usage) return meter.charge({ status, usage: this.usage, estimated: false, errorCode, ttftMs, upstreamRequestId });
    if (this.deliveredTokens === 0 && !chargeIfNothingDelivered) return meter.release(status, errorCode);
    const usage = { prompt: this.o.promptEstimate, cached: 0, completion: this.deliveredTokens, reasoning: 0 };
    return meter.charge({ status, usage, estimated: true, errorCode, ttftMs, upstreamRequestId });
  }

  /** Handles one upstream event (without its blank-line terminator): forward, rewrite or end. */
  handle(evt: string): TapResult {
    const o = this.o;
    const data = eventData(evt);
    if (data === null) return PASS;
    // A payload starting with "{" cannot be [DONE]: skip the trim for the usual chunk.
    if (data.charCodeAt(0) !== 123 && data.trim() === "[DONE]") return DONE;
    let chunk: Chunk;
    try {
      chunk = JSON.parse(data) as Chunk;
      if (!chunk || typeof chunk !== "object") throw new Error("not an object");
    } catch {
      return MALFORMED;
    }
    if (chunk.error) return UPSTREAM_ERROR;
    const tokens = chunkTokens(chunk);
    if (tokens > 0) {
      this.deliveredTokens += tokens;
      this.ttftMs ??= Math.round(performance.now() - this.started);
    }
    if (chunk.usage && typeof chunk.usage === "object") {
      this.usage = readUsage(chunk.usage, o.reasoningIsExtra);
      if (!o.clientWantsUsage) {
        if (!chunk.choices || chunk.choices.length === 0) return DROP;
        delete chunk.usage;
      } else {
        chunk.usage = usageJson(chunk.usage, this.usage);
      }
      return { out: sseEvent(chunk) };
    }
    if (!o.clientWantsUsage && chunk.usage === null) {
      delete chunk.usage;
      return { out: sseEvent(chunk) };
    }
    return PASS;
  }
}
