import { readUsage, usageJson, type RawUsage, type Usage } from "../providers/usage";
import { estimateTokens } from "./estimate";
import type { Meter } from "./meter";
import { eventData, SseSplitter, sseEvent } from "./sse";

export interface StreamOptions {
  upstream: Response;
  meter: Meter;
  /** Aborts the upstream request. */
  abort: () => void;
  clientAborted: () => boolean;
  clientWantsUsage: boolean;
  reasoningIsExtra: boolean;
  promptEstimate: number;
  headers: Record<string, string>;
  upstreamRequestId: string | null;
}

type Chunk = { choices?: { delta?: Record<string, unknown> }[]; usage?: RawUsage | null; error?: unknown };

const encoder = new TextEncoder();
const DONE = encoder.encode("data: [DONE]\n\n");

/** Output text carried by a chunk (content, reasoning, refusals, tool-call arguments). */
function deltaText(c: Chunk): string {
  let s = "";
  for (const ch of c.choices ?? []) {
    const d = ch.delta;
    if (!d) continue;
    if (typeof d.content === "string") s += d.content;
    if (typeof d.reasoning_content === "string") s += d.reasoning_content;
    if (typeof d.refusal === "string") s += d.refusal;
    if (Array.isArray(d.tool_calls)) {
      for (const t of d.tool_calls as { function?: { arguments?: string; name?: string } }[]) {
        s += (t.function?.name ?? "") + (t.function?.arguments ?? "");
      }
    }
  }
  return s;
}

/**
 * Streams the upstream SSE to the client event by event as it arrives, with a tap that reads
 * usage and counts what was delivered. `[DONE]` is forwarded only after the charge has
 * committed, so every client that saw `[DONE]` has been charged exactly once.
 */
export function streamResponse(o: StreamOptions): Response {
  const reader = o.upstream.body!.getReader();
  const splitter = new SseSplitter();
  const started = performance.now();
  let usage: Usage | null = null;
  let deliveredTokens = 0;
  let ttftMs: number | null = null;

  const estimated = (): Usage => ({ prompt: o.promptEstimate, cached: 0, completion: deliveredTokens, reasoning: 0 });
  /** Charges real usage when it arrived, else prompt + what was delivered (estimated). */
  const finish = (status: number, errorCode: string | null, chargeIfNothingDelivered: boolean) => {
    if (usage) return o.meter.charge({ status, usage, estimated: false, errorCode, ttftMs, upstreamRequestId: o.upstreamRequestId });
    if (deliveredTokens === 0 && !chargeIfNothingDelivered) return o.meter.release(status, errorCode);
    return o.meter.charge({ status, usage: estimated(), estimated: true, errorCode, ttftMs, upstreamRequestId: o.upstreamRequestId });
  };
  const errorEvent = (message: string, code: string) =>
    encoder.encode(sseEvent({ error: { message, type: "server_error", param: null, code } }));

  /** Handles one upstream event: the text to forward, or a terminal state. */
  const handle = (evt: string): { out?: string; done?: true; error?: "malformed" | "upstream" } => {
    const data = eventData(evt);
    if (data === null) return { out: `${evt}\n\n` };
    if (data.trim() === "[DONE]") return { done: true };
    let chunk: Chunk;
    try {
      chunk = JSON.parse(data) as Chunk;
      if (!chunk || typeof chunk !== "object") throw new Error("not an object");
    } catch {
      return { error: "malformed" };
    }
    if (chunk.error) return { out: `${evt}\n\n`, error: "upstream" };
    const text = deltaText(chunk);
    if (text) {
      deliveredTokens += estimateTokens(text);
      ttftMs ??= Math.round(performance.now() - started);
    }
    if (chunk.usage && typeof chunk.usage === "object") {
      usage = readUsage(chunk.usage, o.reasoningIsExtra);
      if (!o.clientWantsUsage) {
        if (!chunk.choices || chunk.choices.length === 0) return {};
        delete chunk.usage;
      } else {
        chunk.usage = usageJson(chunk.usage, usage);
      }
      return { out: sseEvent(chunk) };
    }
    if (!o.clientWantsUsage && chunk.usage === null) {
      delete chunk.usage;
      return { out: sseEvent(chunk) };
    }
    return { out: `${evt}\n\n` };
  };

  const body = new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        for (;;) {
          let r: Awaited<ReturnType<typeof reader.read>>;
          try {
            r = await reader.read();
          } catch {
            if (o.clientAborted()) {
              await finish(499, "client_closed", true);
              return;
            }
            await finish(502, "upstream_stream_broken", false);
            ctrl.enqueue(errorEvent("The upstream connection was lost mid-stream.", "upstream_stream_broken"));
            ctrl.close();
            return;
          }
          const events = r.done ? [splitter.rest()].filter((e): e is string => e !== null) : splitter.push(r.value);
          let out = "";
          let terminal: "done" | "malformed" | "upstream" | null = null;
          for (const evt of events) {
            const h = handle(evt);
            if (h.out) out += h.out;
            if (h.done) terminal = "done";
            else if (h.error) terminal = h.error;
            if (terminal) break;
          }
          if (out) ctrl.enqueue(encoder.encode(out));
          if (terminal === "done" || (r.done && usage)) {
            reader.cancel().catch(() => {});
            await finish(200, null, true);
            ctrl.enqueue(DONE);
            ctrl.close();
            return;
          }
          if (terminal === "malformed") {
            o.abort();
            await finish(502, "upstream_malformed", false);
            ctrl.enqueue(errorEvent("The upstream sent malformed data.", "upstream_malformed"));
            ctrl.close();
            return;
          }
          if (terminal === "upstream") {
            o.abort();
            await finish(502, "upstream_error", false);
            ctrl.close();
            return;
          }
          if (r.done) {
            await finish(502, "upstream_stream_incomplete", false);
            ctrl.enqueue(errorEvent("The upstream stream ended before completion.", "upstream_stream_incomplete"));
            ctrl.close();
            return;
          }
          if (out) return;
        }
      },
      async cancel() {
        // The client went away: stop the upstream and charge prompt + what was delivered.
        o.abort();
        await finish(499, "client_closed", true);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, {
    status: 200,
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      ...o.headers,
    },
  });
}
