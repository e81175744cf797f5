import type { EventTap } from "./dialects/types";
import type { SseSplitter } from "./sse";

/** How long a stream whose client left after the whole answer is read on for its usage, at most. */
export const USAGE_DRAIN_MS = 5_000;
/** How much of it, at most: a final Responses event repeats the whole output, a usage chunk is small. */
export const USAGE_DRAIN_BYTES = 4 * 1024 * 1024;

export type ReadResult = { done: true; value?: undefined } | { done: false; value: Uint8Array };

/**
 * How the read ended: the API's last event came (`usage`: what it reported is in the tap), or
 * not: the time or byte bound, the upstream's end, error or malformed data (`broken`), more
 * output than a whole answer has (`continued`), or the gateway's shutdown.
 */
export type DrainEnd = "usage" | "timeout" | "bytes" | "ended" | "broken" | "continued" | "shutdown";

/**
 * Reads a stream on, forwarding nothing, after its client left once the answer was whole (the
 * tap's `answered`): the usage comes after the answer (chat's usage chunk, Responses'
 * response.completed, Messages' message_stop), and it is what the upstream bills, hidden
 * reasoning and server-side tools included. Reading it stops nothing the upstream would still
 * generate; the caller aborts the upstream once this ends, however it ends.
 */
export class UsageDrain {
  private why: DrainEnd | null = null;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly splitter: SseSplitter,
    private readonly tap: EventTap,
  ) {}

  /** Ends the read at once (the bound ran out, or shutdown): `run` resolves with `why`. */
  stop(why: DrainEnd): void {
    this.why ??= why;
    this.reader.cancel().catch(() => {});
  }

  /** `pending`: a read already asked for (a pull was awaiting it when the client left); its bytes come first. */
  async run(pending: Promise<ReadResult> | null, ms: number): Promise<DrainEnd> {
    if (ms <= 0) return "timeout";
    const timer = setTimeout(() => this.stop("timeout"), ms);
    let bytes = 0;
    try {
      for (;;) {
        let r: ReadResult;
        try {
          r = await (pending ?? (this.reader.read() as Promise<ReadResult>));
        } catch {
          return this.why ?? "broken";
        }
        pending = null;
        if (this.why) return this.why;
        bytes += r.value?.length ?? 0;
        const end = this.take(r);
        if (end) return end;
        if (bytes > USAGE_DRAIN_BYTES) return "bytes";
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** One read's events through the tap (nothing forwarded): how the read ends, or null to go on. */
  private take(r: ReadResult): DrainEnd | null {
    const rest = r.done ? this.splitter.rest() : null;
    const events = r.done ? (rest === null ? [] : [rest]) : this.splitter.push(r.value);
    try {
      for (const evt of events) {
        const h = this.tap.handle(evt);
        if (h.done) return "usage";
        if (h.error) return "broken";
      }
    } catch {
      return "broken";
    }
    if (r.done) return "ended";
    // New output (another choice, another output item): the answer was not whole after all.
    return this.tap.answered ? null : "continued";
  }
}
