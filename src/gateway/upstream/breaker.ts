export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerOptions {
  /** Consecutive failures (none older than windowMs) that open the breaker. */
  failures: number;
  windowMs: number;
  cooldownMs: number;
}

/** A permit to call the upstream: `probe` when it is the single trial call of a half-open breaker. */
export type Permit = "normal" | "probe";

const MAX_OUTCOMES = 1000;

/**
 * Circuit breaker of one upstream key. Closed: every call goes through, consecutive failures are
 * counted. Open (after `failures` of them within the window): nothing goes through until the
 * cooldown ends. Half-open: exactly one probe goes through; its success closes the breaker, its
 * failure opens it for another cooldown. The clock is injected so tests need not wait.
 */
export class CircuitBreaker {
  private openedAt: number | null = null;
  private probing = false;
  private streak = 0;
  private streakStart = 0;
  private opens = 0;
  /** Recent outcomes (time, ok) for the reported error rate. */
  private outcomes: { at: number; ok: boolean }[] = [];

  constructor(
    private readonly opts: BreakerOptions,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    if (this.openedAt === null) return "closed";
    return this.now() >= this.openedAt + this.opts.cooldownMs ? "half_open" : "open";
  }

  /** When an open breaker lets its probe through (null when closed). */
  get retryAt(): number | null {
    return this.openedAt === null ? null : this.openedAt + this.opts.cooldownMs;
  }

  /** How many times it has opened since start. */
  get timesOpened(): number {
    return this.opens;
  }

  /** Whether a call would be let through now, without taking the probe slot. */
  allows(): boolean {
    const s = this.state;
    return s === "closed" || (s === "half_open" && !this.probing);
  }

  /** Takes a permit, or null when the breaker is open (or its probe is already out). */
  acquire(): Permit | null {
    const s = this.state;
    if (s === "closed") return "normal";
    if (s === "half_open" && !this.probing) {
      this.probing = true;
      return "probe";
    }
    return null;
  }

  success(permit: Permit): void {
    this.record(true);
    if (permit === "probe") this.probing = false;
    // Any success is evidence of health, also one that started before the breaker opened.
    this.openedAt = null;
    this.streak = 0;
  }

  failure(permit: Permit): void {
    const now = this.now();
    this.record(false);
    if (permit === "probe") {
      this.probing = false;
      this.open(now);
      return;
    }
    if (this.openedAt !== null) return;
    if (this.streak === 0 || now - this.streakStart > this.opts.windowMs) {
      this.streak = 0;
      this.streakStart = now;
    }
    if (++this.streak >= this.opts.failures) this.open(now);
  }

  /** The call ended without saying anything about the upstream (the client went away). */
  release(permit: Permit): void {
    if (permit === "probe") this.probing = false;
  }

  /** Failures / calls over the window (0 when there were none), and the call count. */
  recent(): { requests: number; failures: number; errorRate: number } {
    this.prune(this.now());
    const failures = this.outcomes.filter((o) => !o.ok).length;
    const requests = this.outcomes.length;
    return { requests, failures, errorRate: requests ? failures / requests : 0 };
  }

  private open(now: number): void {
    this.openedAt = now;
    this.streak = 0;
    this.opens++;
  }

  private record(ok: boolean): void {
    const now = this.now();
    this.outcomes.push({ at: now, ok });
    if (this.outcomes.length > MAX_OUTCOMES) this.outcomes.shift();
    this.prune(now);
  }

  private prune(now: number): void {
    const from = now - this.opts.windowMs;
    let i = 0;
    while (i < this.outcomes.length && this.outcomes[i]!.at < from) i++;
    if (i) this.outcomes.splice(0, i);
  }
}
