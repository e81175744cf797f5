/**
 * The mock upstream's streamed answers (SSE), whatever the dialect, with their mid-stream faults:
 * hang, drop, malformed chunk, error event. A dialect describes its stream as a script (events
 * before the tokens, one event per token, events after); the pump sends it one event per pull.
 */
import type { MockBehavior } from "./mock-behavior";

const WORDS = "Tollgate meters every token exactly and charges it to the micro credit".split(" ");
const enc = new TextEncoder();

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const untilAborted = (signal: AbortSignal) => new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }));

export function tokenText(b: MockBehavior, i: number): string {
  if (b.text) return i === 0 ? b.text : "";
  return (i === 0 ? "" : " ") + WORDS[i % WORDS.length];
}

/** The whole text of `n` tokens. */
export function fullText(b: MockBehavior, n = b.completion_tokens ?? 12): string {
  let text = "";
  for (let i = 0; i < n; i++) text += tokenText(b, i);
  return text;
}

/** The answer under way: its ids, and `close`, which counts it ended (true: the client went away). */
export interface Reply {
  id: string;
  created: number;
  model: string;
  close(wasAborted: boolean): void;
}

/** An event of a script, given its position in the stream (Responses' sequence_number). */
export type ScriptEvent = (seq: number) => string;

export interface SseScript {
  head: ScriptEvent[];
  tokens: number;
  token(i: number, seq: number): string;
  tail: ScriptEvent[];
  /** The dialect's broken event (`malformed_after_chunks`). */
  malformed: string;
  /** The dialect's error ending (`fail_stream`); the stream closes after it. */
  fail: ScriptEvent;
}

/** `event: <name>` + `data: <json>`, the named-event SSE of Responses and Messages. */
export const named = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
/** A data-only event (chat, completions). */
export const dataOnly = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;

export function sseResponse(b: MockBehavior, script: SseScript, reply: Reply, signal: AbortSignal, headers: Record<string, string> = {}): Response {
  const pump = new Pump(b, script, reply, signal);
  const stream = new ReadableStream<Uint8Array>({
    pull: (ctrl) => pump.pull(ctrl),
    cancel() {
      reply.close(true);
    },
  });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-request-id": `upstream-${reply.id}`, ...headers },
  });
}

type Controller = ReadableStreamDefaultController<Uint8Array>;

/** One event per pull, like a model decoding: the head, a chunk per token, the tail. */
class Pump {
  private phase: "head" | "tokens" | "tail" | "closed" = "head";
  /** Position in the current phase. */
  private i = 0;
  /** Events sent. */
  private seq = 0;
  /** Tokens sent before the faults apply. */
  private after: number;

  constructor(
    private readonly b: MockBehavior,
    private readonly script: SseScript,
    private readonly reply: Reply,
    private readonly signal: AbortSignal,
  ) {
    this.after = b.after_chunks ?? b.drop_after_chunks ?? b.malformed_after_chunks ?? 0;
  }

  async pull(ctrl: Controller): Promise<void> {
    const b = this.b;
    if (b.chunk_delay_ms && this.seq > 0) await sleep(b.chunk_delay_ms);
    this.advance();
    if (this.phase === "tokens" && this.i >= this.after) {
      if (b.hang === "body") return untilAborted(this.signal);
      if (b.drop_after_chunks !== undefined) return this.drop(ctrl);
      if (b.malformed_after_chunks !== undefined) return this.malformed(ctrl);
      if (b.fail_stream) return this.end(ctrl, this.script.fail(this.seq++));
    }
    this.next(ctrl);
  }

  private async drop(ctrl: Controller): Promise<void> {
    // Let what was sent reach the client first: a real drop happens after delivery.
    await sleep(30);
    this.phase = "closed";
    this.reply.close(false);
    ctrl.error(new Error("mock: connection dropped"));
  }

  /** One broken chunk, then the stream goes on normally. */
  private malformed(ctrl: Controller): void {
    ctrl.enqueue(enc.encode(this.script.malformed));
    this.after = Number.MAX_SAFE_INTEGER;
  }

  /** Moves past the phases already sent. */
  private advance(): void {
    const s = this.script;
    if (this.phase === "head" && this.i >= s.head.length) [this.phase, this.i] = [s.tokens > 0 ? "tokens" : "tail", 0];
    if (this.phase === "tokens" && this.i >= s.tokens) [this.phase, this.i] = ["tail", 0];
  }

  private next(ctrl: Controller): void {
    const s = this.script;
    if (this.phase === "head") return this.send(ctrl, s.head[this.i++]!(this.seq++));
    if (this.phase === "tokens") return this.send(ctrl, s.token(this.i++, this.seq++));
    const last = this.i === s.tail.length - 1;
    const event = s.tail[this.i++]!(this.seq++);
    if (last) this.end(ctrl, event);
    else this.send(ctrl, event);
  }

  private send(ctrl: Controller, event: string): void {
    ctrl.enqueue(enc.encode(event));
  }

  private end(ctrl: Controller, event: string): void {
    this.send(ctrl, event);
    this.phase = "closed";
    this.reply.close(false);
    ctrl.close();
  }
}
