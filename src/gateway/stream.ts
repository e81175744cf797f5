import type { Meter } from "./meter";
import { SseSplitter, sseEvent } from "./sse";
import { UsageTap } from "./tap";

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
  /** performance.now() by which the whole request must be over (timeouts.total_ms). */
  deadline?: number;
  /** Longest silence allowed between two upstream chunks (timeouts.stream_gap_ms). */
  gapMs?: number;
  /** Hands over the function that ends this stream at once (gateway shutdown). */
  onTerminate?: (end: () => void) => void;
  /** Called once after the stream ended and its charge was written; with a reason when the upstream broke it. */
  onEnd?: (upstreamFailure: string | null) => void;
}

/** A comment line keeps proxies and clients from timing out during long upstream silences. */
export const KEEPALIVE_MS = 15_000;
const KEEPALIVE = new TextEncoder().encode(": keep-alive\n\n");

type ReadResult = { done: true; value?: undefined } | { done: false; value: Uint8Array };
type Next = { r: ReadResult } | { e: unknown } | { timer: "keepalive" | "gap" | "total" } | { shutdown: true };

const encoder = new TextEncoder();
const DONE = encoder.encode("data: [DONE]\n\n");

/** The first `n` events as forwarded text (for the rare chunk whose bytes cannot go out as they came). */
const joined = (events: string[], n: number): string => {
  let s = "";
  for (let i = 0; i < n; i++) s += `${events[i]}\n\n`;
  return s;
};

/**
 * Streams the upstream SSE to the client event by event as it arrives, with a tap that reads
 * usage and counts what was delivered. `[DONE]` is forwarded only after the charge has
 * committed, so every client that saw `[DONE]` has been charged exactly once.
 */
export function streamResponse(o: StreamOptions): Response {
  const reader = o.upstream.body!.getReader();
  const splitter = new SseSplitter();
  const tap = new UsageTap(o);
  const finish = tap.finish.bind(tap);
  const errorEvent = (message: string, code: string) =>
    encoder.encode(sseEvent({ error: { message, type: "server_error", param: null, code } }));

  const gapMs = o.gapMs ?? Number.POSITIVE_INFINITY;
  const deadline = o.deadline ?? Number.POSITIVE_INFINITY;
  let lastUpstream = performance.now();
  let lastSent = lastUpstream;
  /**
   * The pull waiting in next(), resolved by whichever comes first: the upstream read, a timer
   * (keep-alive due, gap or total timeout) or shutdown. A read in progress is kept across pulls
   * when a keep-alive comment went out meanwhile.
   */
  let wake: ((n: Next) => void) | null = null;
  let reading = false;
  let readResult: Next | null = null;
  let stopping = false;
  let closing = false;
  let ctrlRef: ReadableStreamDefaultController<Uint8Array> | null = null;
  // One timer per stream, not one per read: the due times only move later as data flows, so an
  // armed timer is never late; when it fires early it re-arms for what is left.
  let timer: ReturnType<typeof setTimeout> | null = null;

  const deliver = (n: Next) => {
    const w = wake;
    if (w) {
      wake = null;
      w(n);
    } else {
      readResult = n;
    }
  };
  const read = () => {
    reading = true;
    reader.read().then(
      (r) => {
        reading = false;
        deliver({ r: r as ReadResult });
      },
      (e: unknown) => {
        reading = false;
        deliver({ e });
      },
    );
  };
  /** The timer that is due at `now`, if any. */
  const due = (now: number): "keepalive" | "gap" | "total" | null => {
    const gapAt = lastUpstream + gapMs;
    const at = Math.min(gapAt, deadline, lastSent + KEEPALIVE_MS);
    if (now < at) return null;
    return at === deadline ? "total" : at === gapAt ? "gap" : "keepalive";
  };
  const onTimer = () => {
    timer = null;
    if (!wake) return;
    const kind = due(performance.now());
    if (kind) {
      const w = wake;
      wake = null;
      w({ timer: kind });
    } else {
      arm();
    }
  };
  const arm = () => {
    if (timer) return;
    const at = Math.min(lastUpstream + gapMs, deadline, lastSent + KEEPALIVE_MS);
    if (at === Number.POSITIVE_INFINITY) return;
    timer = setTimeout(onTimer, Math.max(0, at - performance.now()));
  };
  const disarm = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };

  /** The next upstream read, or whichever comes first: keep-alive due, gap or total timeout, shutdown. */
  const next = (): Promise<Next> => {
    if (readResult) {
      const n = readResult;
      readResult = null;
      return Promise.resolve(n);
    }
    if (!reading) read();
    const kind = due(performance.now());
    if (kind) return Promise.resolve({ timer: kind });
    arm();
    return new Promise<Next>((resolve) => {
      wake = resolve;
    });
  };

  /** Ends the stream once: charge (or release), then the closing event, then close. */
  const end = async (
    ctrl: ReadableStreamDefaultController<Uint8Array>,
    status: number,
    code: string | null,
    chargeIfNothingDelivered: boolean,
    last: Uint8Array | null,
    upstreamFailure: string | null,
  ) => {
    if (closing) return;
    closing = true;
    disarm();
    try {
      await finish(status, code, chargeIfNothingDelivered);
      try {
        if (last) ctrl.enqueue(last);
        ctrl.close();
      } catch {
        // the client is gone already
      }
    } finally {
      o.onEnd?.(upstreamFailure);
    }
  };
  const endShutdown = (ctrl: ReadableStreamDefaultController<Uint8Array>) => {
    o.abort();
    reader.cancel().catch(() => {});
    return end(ctrl, 503, "server_shutting_down", false, errorEvent("The gateway is restarting; the response was cut short. Please retry.", "server_shutting_down"), null);
  };
  o.onTerminate?.(() => {
    if (stopping || closing) return;
    stopping = true;
    // A pull waiting on the upstream handles it; otherwise (the client is not reading) end here.
    if (wake) deliver({ shutdown: true });
    else if (ctrlRef) void endShutdown(ctrlRef);
  });

  const body = new ReadableStream<Uint8Array>(
    {
      start(ctrl) {
        ctrlRef = ctrl;
      },
      async pull(ctrl) {
        for (;;) {
          if (closing) return;
          if (stopping) return endShutdown(ctrl);
          const n = await next();
          if (closing) return;
          if ("shutdown" in n) return endShutdown(ctrl);
          if ("timer" in n) {
            if (n.timer === "keepalive") {
              lastSent = performance.now();
              ctrl.enqueue(KEEPALIVE);
              return;
            }
            o.abort();
            reader.cancel().catch(() => {});
            const message =
              n.timer === "gap"
                ? `The upstream sent nothing for ${Math.round(gapMs / 1000)} s; the response was cut short.`
                : "The response took longer than the gateway's time limit and was cut short.";
            return end(ctrl, 504, "upstream_timeout", false, errorEvent(message, "upstream_timeout"), `upstream_timeout: ${n.timer}`);
          }
          if ("e" in n) {
            if (o.clientAborted()) return end(ctrl, 499, "client_closed", true, null, null);
            return end(ctrl, 502, "upstream_stream_broken", false, errorEvent("The upstream connection was lost mid-stream.", "upstream_stream_broken"), "upstream_stream_broken");
          }
          const r = n.r;
          lastUpstream = performance.now();
          const events = r.done ? [splitter.rest()].filter((e): e is string => e !== null) : splitter.push(r.value);
          // A whole chunk of unchanged events goes out as the upstream's bytes (no re-encoding).
          let verbatim = splitter.whole;
          let out = "";
          let terminal: "done" | "malformed" | "upstream" | null = null;
          for (let i = 0; i < events.length; i++) {
            const evt = events[i]!;
            const h = tap.handle(evt);
            if (h.pass) {
              if (!verbatim) out += `${evt}\n\n`;
            } else {
              if (verbatim) {
                verbatim = false;
                out = joined(events, i);
              }
              if (h.out) out += h.out;
            }
            if (h.done) terminal = "done";
            else if (h.error) terminal = h.error;
            if (terminal) {
              // Events after the terminal one are not forwarded.
              if (verbatim && i < events.length - 1) {
                verbatim = false;
                out = joined(events, i + 1);
              }
              break;
            }
          }
          if (verbatim || out) {
            ctrl.enqueue(verbatim ? r.value! : encoder.encode(out));
            lastSent = performance.now();
          }
          if (terminal === "done" || (r.done && tap.usage)) {
            reader.cancel().catch(() => {});
            return end(ctrl, 200, null, true, DONE, null);
          }
          if (terminal === "malformed") {
            o.abort();
            return end(ctrl, 502, "upstream_malformed", false, errorEvent("The upstream sent malformed data.", "upstream_malformed"), "upstream_malformed");
          }
          if (terminal === "upstream") {
            o.abort();
            return end(ctrl, 502, "upstream_error", false, null, "upstream_error");
          }
          if (r.done) {
            return end(ctrl, 502, "upstream_stream_incomplete", false, errorEvent("The upstream stream ended before completion.", "upstream_stream_incomplete"), "upstream_stream_incomplete");
          }
          if (verbatim || out) return;
        }
      },
      async cancel() {
        // The client went away: stop the upstream and charge prompt + what was delivered.
        o.abort();
        if (closing) return;
        closing = true;
        disarm();
        try {
          await finish(499, "client_closed", true);
        } finally {
          o.onEnd?.(null);
        }
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
