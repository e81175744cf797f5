import { ApiError } from "../lib/errors";
import type { BodyEnd } from "./upstream/call-types";
import type { EventTap } from "./dialects/types";
import { SseSplitter } from "./sse";
import { forwardEvents } from "./stream-forward";

export interface StreamOptions {
  upstream: Response;
  /** The dialect's reader of the stream's events (usage, tokens delivered, its end). */
  tap: EventTap;
  /** Charges what the tap saw (or releases the hold); resolves once durable, or rejects with the error the client is told. */
  finish(status: number, errorCode: string | null, chargeIfNothingDelivered: boolean): Promise<unknown>;
  /** The event that ends a stream the gateway cuts, in the API's shape. */
  errorEvent(message: string, code: string, tap?: EventTap): string;
  /** Aborts the upstream request. */
  abort: () => void;
  clientAborted: () => boolean;
  headers: Record<string, string>;
  /** performance.now() by which the whole request must be over (timeouts.total_ms). */
  deadline?: number;
  /** Longest silence allowed between two upstream chunks (timeouts.stream_gap_ms). */
  gapMs?: number;
  /** How long the client may go without a byte before a keep-alive comment (KEEPALIVE_MS). */
  keepaliveMs?: number;
  /** Hands over the function that ends this stream at once (gateway shutdown). */
  onTerminate?: (end: () => void) => void;
  /** Called once after the stream ended and its charge was written: how, as the upstream's breaker hears it. */
  onEnd?: (how: BodyEnd) => void;
}

/** A comment line keeps proxies and clients from timing out during long upstream silences. */
export const KEEPALIVE_MS = 15_000;
const KEEPALIVE = new TextEncoder().encode(": keep-alive\n\n");

type ReadResult = { done: true; value?: undefined } | { done: false; value: Uint8Array };
type Timer = "keepalive" | "gap" | "total";
type Ctrl = ReadableStreamDefaultController<Uint8Array>;

const encoder = new TextEncoder();

/**
 * Streams the upstream SSE to the client event by event as it arrives, with a tap that reads
 * usage and counts what was delivered. The API's terminal event (chat's `[DONE]`, Responses'
 * `response.completed`, Messages' `message_stop`) is forwarded only after the charge has
 * committed, so every client that saw it has been charged exactly once.
 *
 * Each pull awaits the upstream read itself (no promise of its own per read: a stream makes
 * dozens). Meanwhile the stream's timer sends keep-alive comments, and a gap or total timeout
 * or shutdown cuts the read (`cutRead`): the pull then ends the stream for that reason.
 */
export class StreamRelay {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly splitter = new SseSplitter();
  private readonly gapMs: number;
  private readonly keepaliveMs: number;
  private readonly deadline: number;
  private lastUpstream = performance.now();
  private lastSent = this.lastUpstream;
  /** A pull is awaiting the upstream read. */
  private waiting = false;
  /** Why the read in progress was cut short (a timeout or shutdown), for the pull to act on. */
  private cut: Exclude<Timer, "keepalive"> | "shutdown" | null = null;
  private stopping = false;
  private closing = false;
  private ctrl: Ctrl | null = null;
  /** The API's terminal event, held back until the charge has committed (chat: [DONE]). */
  private final: string | null = null;
  // One timer per stream, not one per read: the due times only move later as data flows, so an
  // armed timer is never late; when it fires early it re-arms for what is left.
  private timer: ReturnType<typeof setTimeout> | null = null;

  /** Ends the stream at its deadline even when the client stops reading (no pull would notice). */
  private expiry: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly o: StreamOptions) {
    this.reader = o.upstream.body!.getReader();
    this.gapMs = o.gapMs ?? Number.POSITIVE_INFINITY;
    this.keepaliveMs = o.keepaliveMs ?? KEEPALIVE_MS;
    this.deadline = o.deadline ?? Number.POSITIVE_INFINITY;
    o.onTerminate?.(this.terminate);
    if (this.deadline !== Number.POSITIVE_INFINITY) this.expiry = setTimeout(this.expire, Math.max(0, this.deadline - performance.now()));
  }

  response(): Response {
    const body = new ReadableStream<Uint8Array>(
      {
        start: (ctrl) => {
          this.ctrl = ctrl;
        },
        pull: (ctrl) => this.pull(ctrl),
        cancel: () => this.cancel(),
      },
      { highWaterMark: 0 },
    );
    return new Response(body, {
      status: 200,
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no", ...this.o.headers },
    });
  }

  private async pull(ctrl: Ctrl): Promise<void> {
    // The gap is the upstream's silence while the gateway waits on it: a client that paused before
    // asking for more (backpressure) is not the upstream's fault, and its chunks may be waiting.
    this.lastUpstream = Math.max(this.lastUpstream, performance.now());
    for (;;) {
      if (this.closing) return;
      if (this.stopping) return this.endShutdown(ctrl);
      const due = this.due(performance.now());
      if (due) return this.onTimerDue(ctrl, due);
      this.arm();
      let r: ReadResult;
      this.waiting = true;
      try {
        r = (await this.reader.read()) as ReadResult;
      } catch {
        this.waiting = false;
        if (this.closing) return;
        if (this.cut) return this.onCut(ctrl);
        if (this.o.clientAborted()) return this.end(ctrl, 499, "client_closed", true, null, "cut");
        return this.end(ctrl, 502, "upstream_stream_broken", false, this.error("The upstream connection was lost mid-stream.", "upstream_stream_broken"), { failure: "upstream_stream_broken" });
      }
      this.waiting = false;
      if (this.closing) return;
      if (this.cut) return this.onCut(ctrl);
      let sent: "sent" | "nothing" | Promise<void>;
      try {
        sent = this.relay(ctrl, r);
      } catch {
        // An event the tap choked on is malformed data too: ended now, not at the deadline (the hold is live).
        return this.malformed(ctrl);
      }
      if (sent !== "nothing") return sent === "sent" ? undefined : sent;
    }
  }

  /** The client went away: stop the upstream and charge prompt + what was delivered. */
  private async cancel(): Promise<void> {
    this.o.abort();
    if (this.closing) return;
    this.closing = true;
    this.disarm();
    try {
      // Nobody is left to tell of a failure: a voided or uncommitted charge is the meter's concern.
      await this.o.finish(499, "client_closed", true).catch(() => {});
    } finally {
      this.o.onEnd?.("cut");
    }
  }

  /** Shutdown: a pull waiting on the upstream handles it; otherwise (the client is not reading) end here. */
  private readonly terminate = (): void => {
    if (this.stopping || this.closing) return;
    this.stopping = true;
    if (this.waiting) this.cutRead("shutdown");
    else if (this.ctrl) void this.endShutdown(this.ctrl);
  };

  /** The deadline passed: a waiting pull handles it; a client that stopped reading is cut off here. */
  private readonly expire = (): void => {
    this.expiry = null;
    if (this.closing) return;
    if (this.waiting) this.cutRead("total");
    // The client is not reading: the upstream is not to blame (the breaker hears nothing of it).
    else if (this.ctrl) void this.onTimerDue(this.ctrl, "total", false);
  };

  /** Ends the read a pull awaits (it resolves as done), for the pull to end the stream for `why`. */
  private cutRead(why: NonNullable<StreamRelay["cut"]>): void {
    this.cut ??= why;
    this.reader.cancel().catch(() => {});
  }

  private onCut(ctrl: Ctrl): Promise<void> | undefined {
    return this.cut === "shutdown" ? this.endShutdown(ctrl) : this.onTimerDue(ctrl, this.cut!);
  }

  private onTimerDue(ctrl: Ctrl, timer: Timer, upstreamFault = true): Promise<void> | undefined {
    if (timer === "keepalive") {
      this.lastSent = performance.now();
      ctrl.enqueue(KEEPALIVE);
      return;
    }
    this.o.abort();
    this.reader.cancel().catch(() => {});
    const message =
      timer === "gap"
        ? `The upstream sent nothing for ${Math.round(this.gapMs / 1000)} s; the response was cut short.`
        : "The response took longer than the gateway's time limit and was cut short.";
    return this.end(ctrl, 504, "upstream_timeout", false, this.error(message, "upstream_timeout"), upstreamFault ? { failure: `upstream_timeout: ${timer}` } : "cut");
  }

  /** Forwards one upstream read through the tap; ends the stream on its last event. */
  private relay(ctrl: Ctrl, r: ReadResult): "sent" | "nothing" | Promise<void> {
    this.lastUpstream = performance.now();
    const rest = r.done ? this.splitter.rest() : null;
    const events = r.done ? (rest === null ? [] : [rest]) : this.splitter.push(r.value);
    const { out, verbatim, terminal, final } = forwardEvents(this.o.tap, events, this.splitter.whole);
    if (final !== undefined) this.final = final;
    if (verbatim || out) {
      ctrl.enqueue(verbatim ? r.value! : encoder.encode(out));
      this.lastSent = performance.now();
    }
    if (terminal === "done" || (r.done && this.o.tap.usage && (this.o.tap.complete ?? true))) {
      this.reader.cancel().catch(() => {});
      const last = this.final ?? this.o.tap.endEvent ?? null;
      return this.end(ctrl, 200, null, true, last === null ? null : encoder.encode(last), "complete");
    }
    if (terminal === "malformed") return this.malformed(ctrl);
    if (terminal === "upstream") {
      this.o.abort();
      return this.end(ctrl, 502, "upstream_error", false, null, { failure: "upstream_error" });
    }
    if (r.done) {
      return this.end(ctrl, 502, "upstream_stream_incomplete", false, this.error("The upstream stream ended before completion.", "upstream_stream_incomplete"), { failure: "upstream_stream_incomplete" });
    }
    return verbatim || out ? "sent" : "nothing";
  }

  /** Ends the stream once: charge (or release), then the closing event, then close. */
  private async end(ctrl: Ctrl, status: number, code: string | null, chargeIfNothingDelivered: boolean, last: Uint8Array | null, upstream: BodyEnd): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.disarm();
    try {
      try {
        await this.o.finish(status, code, chargeIfNothingDelivered);
      } catch (e) {
        // The charge did not complete (voided, or not written): never the terminal event then.
        const err = e instanceof ApiError ? e : null;
        last = this.error(err?.message ?? "The gateway could not record the charge.", err?.code ?? "server_error");
      }
      try {
        if (last) ctrl.enqueue(last);
        ctrl.close();
      } catch {
        // the client is gone already
      }
    } finally {
      this.o.onEnd?.(upstream);
    }
  }

  /** Malformed data: the stream ends with an error event, charged what was delivered. */
  private malformed(ctrl: Ctrl): Promise<void> {
    this.o.abort();
    return this.end(ctrl, 502, "upstream_malformed", false, this.error("The upstream sent malformed data.", "upstream_malformed"), { failure: "upstream_malformed" });
  }

  private endShutdown(ctrl: Ctrl): Promise<void> {
    this.o.abort();
    this.reader.cancel().catch(() => {});
    return this.end(ctrl, 503, "server_shutting_down", false, this.error("The gateway is restarting; the response was cut short. Please retry.", "server_shutting_down"), "cut");
  }

  private error(message: string, code: string): Uint8Array {
    return encoder.encode(this.o.errorEvent(message, code, this.o.tap));
  }

  /** When the next timer is due: the gap, the deadline or a keep-alive, whichever comes first. */
  private dueAt(): number {
    return Math.min(this.lastUpstream + this.gapMs, this.deadline, this.lastSent + this.keepaliveMs);
  }

  /** The timer that is due at `now`, if any. */
  private due(now: number): Timer | null {
    const at = this.dueAt();
    if (now < at) return null;
    return at === this.deadline ? "total" : at === this.lastUpstream + this.gapMs ? "gap" : "keepalive";
  }

  /** While a pull awaits the upstream: a keep-alive comment when due, a timeout cuts the read. */
  private readonly onTimer = (): void => {
    this.timer = null;
    if (!this.waiting || this.closing) return;
    const kind = this.due(performance.now());
    if (kind === "keepalive") {
      this.lastSent = performance.now();
      try {
        this.ctrl?.enqueue(KEEPALIVE);
      } catch {
        // A stream the runtime closed under us: nothing to keep alive (a throw here would be uncaught).
        return;
      }
      this.arm();
    } else if (kind) this.cutRead(kind);
    else this.arm();
  };

  private arm(): void {
    if (this.timer) return;
    const at = this.dueAt();
    if (at === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(this.onTimer, Math.max(0, at - performance.now()));
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.expiry) clearTimeout(this.expiry);
    this.timer = null;
    this.expiry = null;
  }
}
