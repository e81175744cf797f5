import { ApiError } from "../lib/errors";
import type { BodyEnd } from "./upstream/call-types";
import type { EventTap } from "./dialects/types";
import { SseSplitter } from "./sse";
import { KEEPALIVE_MS, StreamClock, type Timer } from "./stream-clock";
import { type DrainEnd, type ReadResult, UsageDrain, USAGE_DRAIN_MS } from "./stream-drain";
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
  /** The client's signal: its abort is the client leaving, as the body's cancel is (whichever comes first). */
  client?: AbortSignal;
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

const KEEPALIVE = new TextEncoder().encode(": keep-alive\n\n");

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
 * A client that leaves after the whole answer still has its usage read (`leave`).
 */
export class StreamRelay {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly splitter = new SseSplitter();
  private readonly clock: StreamClock;
  /** The upstream read a pull is awaiting (null: none). */
  private reading: Promise<ReadResult> | null = null;
  /** Reading the usage of a whole answer whose client left (null: not doing so). */
  private drain: UsageDrain | null = null;
  /** Why the read in progress was cut short (a timeout or shutdown), for the pull to act on. */
  private cut: Exclude<Timer, "keepalive"> | "shutdown" | null = null;
  private stopping = false;
  private closing = false;
  private ctrl: Ctrl | null = null;
  /** The API's terminal event, held back until the charge has committed (chat: [DONE]). */
  private final: string | null = null;

  constructor(private readonly o: StreamOptions) {
    this.reader = o.upstream.body!.getReader();
    const deadline = o.deadline ?? Number.POSITIVE_INFINITY;
    this.clock = new StreamClock(o.gapMs ?? Number.POSITIVE_INFINITY, o.keepaliveMs ?? KEEPALIVE_MS, deadline, this.onTimer, this.expire);
    o.onTerminate?.(this.terminate);
    if (o.client?.aborted) void this.leave();
    else o.client?.addEventListener("abort", this.leave, { once: true });
  }

  response(): Response {
    const body = new ReadableStream<Uint8Array>(
      {
        start: (ctrl) => {
          this.ctrl = ctrl;
        },
        pull: (ctrl) => this.pull(ctrl),
        cancel: () => this.leave(),
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
    this.clock.lastUpstream = Math.max(this.clock.lastUpstream, performance.now());
    for (;;) {
      if (this.closing) return;
      if (this.stopping) return this.endShutdown(ctrl);
      const due = this.clock.due(performance.now());
      if (due) return this.onTimerDue(ctrl, due);
      this.clock.arm();
      let r: ReadResult;
      try {
        // Kept while awaited: a client that leaves meanwhile may still need what it brings (leave).
        this.reading = this.reader.read() as Promise<ReadResult>;
        r = await this.reading;
      } catch {
        this.reading = null;
        if (this.closing) return;
        if (this.cut) return this.onCut(ctrl);
        if (this.o.clientAborted()) return this.end(ctrl, 499, "client_closed", true, null, "cut");
        return this.end(ctrl, 502, "upstream_stream_broken", false, this.error("The upstream connection was lost mid-stream.", "upstream_stream_broken"), { failure: "upstream_stream_broken" });
      }
      this.reading = null;
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

  /**
   * The client went away. Mid-answer the upstream is stopped at once (no more generation) and
   * prompt + what was delivered is charged. After the whole answer its usage is still to come
   * (reasoning, server-side tools): it is read first, within bounds, and charged instead.
   */
  private readonly leave = async (): Promise<void> => {
    // Left twice (the body's cancel and the client's signal): a usage being read is read on.
    if (this.closing) return this.drain ? undefined : this.o.abort();
    this.closing = true;
    this.clock.disarm();
    const read = this.o.tap.answered && !this.stopping ? await this.readUsage() : null;
    this.o.abort();
    this.reader.cancel().catch(() => {});
    try {
      // Nobody is left to tell of a failure: a voided or uncommitted charge is the meter's concern.
      await this.o.finish(499, "client_closed", true).catch(() => {});
    } finally {
      this.ended(read === "usage" ? "complete" : "cut");
    }
  };

  /** Reads on for the usage, for a few seconds at most and never past the stream's own timeouts. */
  private async readUsage(): Promise<DrainEnd> {
    this.drain = new UsageDrain(this.reader, this.splitter, this.o.tap);
    try {
      return await this.drain.run(this.reading, Math.min(USAGE_DRAIN_MS, this.clock.upstreamLeft(performance.now(), this.reading !== null)));
    } finally {
      this.drain = null;
    }
  }

  /** Shutdown: a pull waiting on the upstream handles it; otherwise (the client is not reading) end here. */
  private readonly terminate = (): void => {
    // Reading a gone client's usage is what shutdown may not wait for: charged as it stands.
    if (this.drain) return this.drain.stop("shutdown");
    if (this.stopping || this.closing) return;
    this.stopping = true;
    if (this.reading) this.cutRead("shutdown");
    else if (this.ctrl) void this.endShutdown(this.ctrl);
  };

  /** The deadline passed: a waiting pull handles it; a client that stopped reading is cut off here. */
  private readonly expire = (): void => {
    if (this.closing) return;
    if (this.reading) this.cutRead("total");
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
      this.clock.lastSent = performance.now();
      ctrl.enqueue(KEEPALIVE);
      return;
    }
    this.o.abort();
    this.reader.cancel().catch(() => {});
    const message =
      timer === "gap"
        ? `The upstream sent nothing for ${Math.round(this.clock.gapMs / 1000)} s; the response was cut short.`
        : "The response took longer than the gateway's time limit and was cut short.";
    return this.end(ctrl, 504, "upstream_timeout", false, this.error(message, "upstream_timeout"), upstreamFault ? { failure: `upstream_timeout: ${timer}` } : "cut");
  }

  /** Forwards one upstream read through the tap; ends the stream on its last event. */
  private relay(ctrl: Ctrl, r: ReadResult): "sent" | "nothing" | Promise<void> {
    this.clock.lastUpstream = performance.now();
    const rest = r.done ? this.splitter.rest() : null;
    const events = r.done ? (rest === null ? [] : [rest]) : this.splitter.push(r.value);
    const { out, verbatim, terminal, final } = forwardEvents(this.o.tap, events, this.splitter.whole);
    if (final !== undefined) this.final = final;
    if (verbatim || out) {
      ctrl.enqueue(verbatim ? r.value! : encoder.encode(out));
      this.clock.lastSent = performance.now();
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
    this.clock.disarm();
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
      this.ended(upstream);
    }
  }

  /** After the charge, once per stream: the client is no longer followed, and the upstream's verdict told. */
  private ended(how: BodyEnd): void {
    this.o.client?.removeEventListener("abort", this.leave);
    this.o.onEnd?.(how);
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

  /** While a pull awaits the upstream: a keep-alive comment when due, a timeout cuts the read. */
  private readonly onTimer = (): void => {
    if (!this.reading || this.closing) return;
    const kind = this.clock.due(performance.now());
    if (kind === "keepalive") {
      this.clock.lastSent = performance.now();
      try {
        this.ctrl?.enqueue(KEEPALIVE);
      } catch {
        // A stream the runtime closed under us: nothing to keep alive (a throw here would be uncaught).
        return;
      }
      this.clock.arm();
    } else if (kind) this.cutRead(kind);
    else this.clock.arm();
  };
}
