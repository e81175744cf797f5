/** The mock upstream's streamed answer (SSE), with its mid-stream faults: hang, drop, malformed chunk. */
import type { MockBehavior, MockUsage } from "./mock-behavior";

const WORDS = "Tollgate meters every token exactly and charges it to the micro credit".split(" ");
const enc = new TextEncoder();

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const untilAborted = (signal: AbortSignal) => new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }));

export function tokenText(b: MockBehavior, i: number): string {
  if (b.text) return i === 0 ? b.text : "";
  return (i === 0 ? "" : " ") + WORDS[i % WORDS.length];
}

/** The answer under way: its ids, and `close`, which counts it ended (true: the client went away). */
export interface Reply {
  id: string;
  created: number;
  model: string;
  close(wasAborted: boolean): void;
}

export function mockStreamResponse(b: MockBehavior, body: Record<string, unknown>, reply: Reply, usage: MockUsage | undefined, signal: AbortSignal): Response {
  const wantUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
  const events = new MockEvents(b, reply, wantUsage ? usage : undefined, signal);
  const stream = new ReadableStream<Uint8Array>({
    pull: (ctrl) => events.pull(ctrl),
    cancel() {
      reply.close(true);
    },
  });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-request-id": `upstream-${reply.id}` },
  });
}

type Controller = ReadableStreamDefaultController<Uint8Array>;

/** One event per pull, like a model decoding: role, a chunk per token, finish, usage (if asked), [DONE]. */
class MockEvents {
  /** Tokens to send. */
  private readonly n: number;
  private i = 0;
  private phase: "role" | "tokens" | "finish" | "usage" | "done" | "closed" = "role";

  constructor(
    private readonly b: MockBehavior,
    private readonly reply: Reply,
    private readonly usage: MockUsage | undefined,
    private readonly signal: AbortSignal,
  ) {
    this.n = b.completion_tokens ?? 12;
  }

  async pull(ctrl: Controller): Promise<void> {
    const b = this.b;
    if (b.chunk_delay_ms && this.phase !== "role") await sleep(b.chunk_delay_ms);
    const after = b.after_chunks ?? b.drop_after_chunks ?? b.malformed_after_chunks ?? 0;
    if (this.phase === "tokens" && this.i >= after) {
      if (b.hang === "body") return untilAborted(this.signal);
      if (b.drop_after_chunks !== undefined) return this.drop(ctrl);
      if (b.malformed_after_chunks !== undefined) return this.malformed(ctrl);
    }
    this.next(ctrl);
  }

  private async drop(ctrl: Controller): Promise<void> {
    // Let what was sent reach the client first: a real drop happens after delivery.
    await sleep(30);
    this.reply.close(false);
    ctrl.error(new Error("mock: connection dropped"));
  }

  /** One broken chunk, then the stream goes on normally. */
  private malformed(ctrl: Controller): void {
    ctrl.enqueue(enc.encode('data: {"id": "broken", "choices": [\n\n'));
    this.b.malformed_after_chunks = undefined;
    this.b.after_chunks = Number.MAX_SAFE_INTEGER;
  }

  private next(ctrl: Controller): void {
    switch (this.phase) {
      case "role":
        ctrl.enqueue(enc.encode(this.chunk({ role: "assistant", content: "" })));
        this.phase = this.n > 0 ? "tokens" : "finish";
        return;
      case "tokens":
        ctrl.enqueue(enc.encode(this.chunk({ content: tokenText(this.b, this.i) })));
        if (++this.i >= this.n) this.phase = "finish";
        return;
      case "finish":
        ctrl.enqueue(enc.encode(this.chunk({}, "stop")));
        this.phase = this.usage ? "usage" : "done";
        return;
      case "usage":
        ctrl.enqueue(enc.encode(this.event({ choices: [], usage: this.usage })));
        this.phase = "done";
        return;
      case "done":
        ctrl.enqueue(enc.encode("data: [DONE]\n\n"));
        this.phase = "closed";
        this.reply.close(false);
        ctrl.close();
        return;
    }
  }

  private chunk(delta: Record<string, unknown>, finish: string | null = null): string {
    return this.event({ choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  }

  private event(rest: { choices: unknown[]; usage?: MockUsage }): string {
    const { id, created, model } = this.reply;
    return `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, ...rest })}\n\n`;
  }
}
