import { OutcomeWindow } from "./outcome-window";

export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerOptions {
  /** Consecutive failures (none older than windowMs) that open the breaker. */
  failures: number;
  windowMs: number;
  cooldownMs: number;
  /** Failures must come from this many distinct accounts, and the rules hold without the top failing one (1: off). */
  minAccounts?: number;
  /** The rate rule: at least this many calls in the window ... */
  minRequests?: number;
  /** ... of which at least this share failed. */
  failureRate?: number;
}

/**
 * A permit to call the upstream: `probe` when it is the single trial call of a half-open breaker;
 * `answered_probe` once that trial's headers came (its slot is free again, its verdict is still a probe's).
 */
export type Permit = "normal" | "probe" | "answered_probe";

const MAX_OUTCOMES = 1000;
/** Calls without an account (unit tests, probes of tools) count as one anonymous account. */
const ANONYMOUS = "";

/**
 * Circuit breaker of one upstream key. Closed: every call goes through. It opens on a streak of
 * `failures` consecutive failures within the window, or on a failure rate over a minimum volume.
 * With `minAccounts` > 1 either rule must also hold without the account that has the most
 * failures in the window (and the failures must come from `minAccounts` accounts): one customer
 * whose requests make the upstream fail must not shut it for everyone, nor turn another
 * account's single ordinary failure into an opening (a gateway with one account sets 1).
 * Open: nothing goes through until the cooldown ends. Half-open: exactly one probe; its success
 * closes the breaker, its failure opens it for another cooldown when the window still holds
 * that evidence (else it closes). Calls without an account count as one. The clock is injected.
 */
export class CircuitBreaker {
  private openedAt: number | null = null;
  private probing = false;
  private streak = 0;
  private streakStart = 0;
  private opens = 0;
  /** Recent outcomes for the error rate and the accounts they came from. */
  private readonly outcomes = new OutcomeWindow(MAX_OUTCOMES);

  constructor(
    private readonly opts: BreakerOptions,
    private readonly now: () => number = Date.now,
    /** Told of every change of state (closed → open, half_open → closed, ...). */
    private readonly onChange?: (from: BreakerState, to: BreakerState) => void,
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

  /**
   * The upstream sent its headers: a probe's slot goes back now (a long stream must not keep every
   * other trial out), while its verdict waits for the end of the body. Returns the permit to judge with.
   */
  answered(permit: Permit): Permit {
    if (permit !== "probe") return permit;
    this.probing = false;
    return "answered_probe";
  }

  success(permit: Permit, account = ANONYMOUS): void {
    this.record(true, account);
    if (permit === "probe") this.probing = false;
    // Any success is evidence of health, also one that started before the breaker opened.
    this.close();
  }

  /** A failure that implicates the upstream (connect, timeout, 5xx, 429, 401/403), for `account`. */
  failure(permit: Permit, account = ANONYMOUS): void {
    const now = this.now();
    this.record(false, account);
    if (permit === "probe") this.probing = false;
    // A trial decides a half-open breaker only; one that another call closed or reopened meanwhile
    // hears it as any other failure.
    if (permit !== "normal" && this.state === "half_open") {
      // Reopened on the evidence that opens a closed breaker only: one account's failing probes
      // (the others' failures aged out of the window) would otherwise keep it open for everyone.
      if (this.shouldOpen(true)) this.open(now);
      else this.close();
      return;
    }
    if (this.openedAt !== null) return;
    if (this.streak === 0 || now - this.streakStart > this.opts.windowMs) {
      this.streak = 0;
      this.streakStart = now;
    }
    this.streak++;
    if (this.shouldOpen(this.streak >= this.opts.failures)) this.open(now);
  }

  /** The call ended without saying anything about the upstream (the client went away). */
  release(permit: Permit): void {
    if (permit === "probe") this.probing = false;
  }

  /** Failures / calls over the window (0 when there were none), and the call count. */
  recent(): { requests: number; failures: number; errorRate: number } {
    this.outcomes.dropBefore(this.now() - this.opts.windowMs);
    const failures = this.outcomes.failures();
    const requests = this.outcomes.size;
    return { requests, failures, errorRate: requests ? failures / requests : 0 };
  }

  private rateExceeded(): boolean {
    const minRequests = this.opts.minRequests ?? Number.POSITIVE_INFINITY;
    if (this.outcomes.size < minRequests) return false;
    const r = this.recent();
    return r.requests >= minRequests && r.errorRate >= (this.opts.failureRate ?? 1);
  }

  /**
   * Whether the opening rules hold (`streak`: the streak rule's own condition; a failed probe
   * passes true). With minAccounts > 1 both rules are judged without the top failing account.
   */
  private shouldOpen(streak: boolean): boolean {
    const need = this.opts.minAccounts ?? 1;
    if (need <= 1) return streak || this.rateExceeded();
    const minRequests = this.opts.minRequests ?? Number.POSITIVE_INFINITY;
    if (!streak && this.outcomes.size < minRequests) return false;
    this.outcomes.dropBefore(this.now() - this.opts.windowMs);
    const rest = this.outcomes.withoutTopFailer();
    if (rest.accounts < need) return false;
    // The others' own run of failures: their scattered failures beside one account's burst are no streak.
    if (streak && rest.streak >= this.opts.failures) return true;
    return rest.requests >= minRequests && rest.failures / rest.requests >= (this.opts.failureRate ?? 1);
  }

  private close(): void {
    const before = this.openedAt === null ? null : this.state;
    this.openedAt = null;
    this.streak = 0;
    if (before) this.onChange?.(before, "closed");
  }

  private open(now: number): void {
    const before = this.state;
    this.openedAt = now;
    this.streak = 0;
    this.opens++;
    this.onChange?.(before, "open");
  }

  private record(ok: boolean, account: string): void {
    const now = this.now();
    this.outcomes.push(now, ok, account);
    this.outcomes.dropBefore(now - this.opts.windowMs);
  }
}
