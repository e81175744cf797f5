/** A comment line keeps proxies and clients from timing out during long upstream silences. */
export const KEEPALIVE_MS = 15_000;

export type Timer = "keepalive" | "gap" | "total";

type Handle = ReturnType<typeof setTimeout>;

/**
 * A relayed stream's time limits: the upstream's silence between two chunks (the gap), the
 * whole request's deadline, and the client's silence that a keep-alive comment fills; and the
 * two timers that watch them. The relay decides what a due timer does (`onDue`, `onExpiry`).
 */
export class StreamClock {
  lastUpstream = performance.now();
  lastSent = this.lastUpstream;
  // One timer per stream, not one per read: the due times only move later as data flows, so an
  // armed timer is never late; when it fires early it re-arms for what is left.
  private timer: Handle | null = null;
  /** Ends the stream at its deadline even when the client stops reading (no pull would notice). */
  private expiry: Handle | null = null;

  constructor(
    readonly gapMs: number,
    readonly keepaliveMs: number,
    readonly deadline: number,
    private readonly onDue: () => void,
    private readonly onExpiry: () => void,
  ) {
    if (deadline !== Number.POSITIVE_INFINITY) this.expiry = setTimeout(this.expire, Math.max(0, deadline - performance.now()));
  }

  /** When the next timer is due: the gap, the deadline or a keep-alive, whichever comes first. */
  dueAt(): number {
    return Math.min(this.lastUpstream + this.gapMs, this.deadline, this.lastSent + this.keepaliveMs);
  }

  /** The timer that is due at `now`, if any. */
  due(now: number): Timer | null {
    const at = this.dueAt();
    if (now < at) return null;
    return at === this.deadline ? "total" : at === this.lastUpstream + this.gapMs ? "gap" : "keepalive";
  }

  /**
   * How long the upstream may still stay silent before the gap or the deadline ends the stream;
   * the gap runs only while a read is `waiting` (a client's pause is not the upstream's silence).
   */
  upstreamLeft(now: number, waiting: boolean): number {
    return Math.min((waiting ? this.lastUpstream : now) + this.gapMs, this.deadline) - now;
  }

  /** Sets the timer for what is due next, unless one is set already. */
  arm(): void {
    if (this.timer) return;
    const at = this.dueAt();
    if (at === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(this.fire, Math.max(0, at - performance.now()));
  }

  /** Both timers off: the stream is ending. */
  disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.expiry) clearTimeout(this.expiry);
    this.timer = null;
    this.expiry = null;
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.onDue();
  };

  private readonly expire = (): void => {
    this.expiry = null;
    this.onExpiry();
  };
}
