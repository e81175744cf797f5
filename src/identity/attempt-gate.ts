/** What the gate needs of a LoginThrottle (sessions.ts), which counts the failures. */
export interface FailureCount {
  readonly max: number;
  failureCount(key: string): number;
  retryAfterMs(key: string): number;
  fail(key: string): void;
  reset(key: string): void;
}

/**
 * A throttle for attempts that are failures only once they end (a password is wrong only once its
 * hash is checked; a credit code is unknown, used elsewhere or expired only when its transaction says so). Attempts in flight are counted apart
 * from the failures: while the failures in the window plus the attempts in flight reach the
 * limit, a new attempt waits for one to end instead of being tried or refused. A burst of guesses
 * sent at once is thus cut at the limit (never more tried than could fail within it), while good
 * attempts awaiting a slow commit only make the next ones wait their turn, never count as
 * failures. Waiters each hold a request (and a concurrency slot of the key's limits, on the API).
 */
export class AttemptGate {
  private inFlight = new Map<string, number>();
  /** Attempts waiting for room, oldest first, each resolved with 0 (admitted) or the pause. */
  private waiting = new Map<string, ((waitMs: number) => void)[]>();

  constructor(readonly throttle: FailureCount) {}

  /**
   * Starts an attempt for the key: 0 once it may go ahead (then `leave` must follow), or the
   * milliseconds of the pause when the key has failed too often (nothing to leave).
   */
  enter(key: string): Promise<number> {
    const wait = this.throttle.retryAfterMs(key);
    if (wait > 0) return Promise.resolve(wait);
    if (!this.waiting.has(key) && this.room(key) > 0) {
      this.take(key);
      return Promise.resolve(0);
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(key) ?? [];
      queue.push(resolve);
      this.waiting.set(key, queue);
    });
  }

  /** Ends an attempt `enter` admitted, counting it as a failure or not, and admits whoever waits. */
  leave(key: string, failed: boolean): void {
    if (failed) this.throttle.fail(key);
    const busy = (this.inFlight.get(key) ?? 1) - 1;
    if (busy > 0) this.inFlight.set(key, busy);
    else this.inFlight.delete(key);
    this.admitWaiting(key);
  }

  /**
   * Forgets the key's failures (a right password: its owner is back), and admits whoever waits.
   * Attempts in flight stay counted: each still ends with `leave`.
   */
  clear(key: string): void {
    this.throttle.reset(key);
    this.admitWaiting(key);
  }

  /** Attempts in flight or waiting for the key (tests read it: nothing is left behind). */
  pending(key: string): number {
    return (this.inFlight.get(key) ?? 0) + (this.waiting.get(key)?.length ?? 0);
  }

  /** Hands the room now free to the oldest waiters; once the key is paused, every waiter hears it. */
  private admitWaiting(key: string): void {
    const queue = this.waiting.get(key);
    if (!queue) return;
    const wait = this.throttle.retryAfterMs(key);
    while (queue.length > 0 && (wait > 0 || this.room(key) > 0)) {
      if (wait === 0) this.take(key);
      queue.shift()!(wait);
    }
    if (queue.length === 0) this.waiting.delete(key);
  }

  private room(key: string): number {
    return this.throttle.max - this.throttle.failureCount(key) - (this.inFlight.get(key) ?? 0);
  }

  private take(key: string): void {
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
  }
}

/** A gate and the key an attempt is counted under there. */
export type GateSlot = readonly [AttemptGate, string];

/**
 * Enters one attempt in several gates (an email and an address): 0 once it is in all of them, or
 * the pause of one paused, and then in none. Entered one at a time in the order given, which every
 * caller keeps: an attempt waiting at a gate holds only gates before it, while those it waits for
 * hold all theirs and are being tried, so nothing waits in a circle.
 */
export async function enterAll(slots: readonly GateSlot[]): Promise<number> {
  const paused = Math.max(0, ...slots.map(([gate, key]) => gate.throttle.retryAfterMs(key)));
  if (paused > 0) return paused;
  for (let i = 0; i < slots.length; i++) {
    const [gate, key] = slots[i]!;
    const wait = await gate.enter(key);
    if (wait > 0) {
      // Not tried: the gates already entered are left without a failure.
      leaveAll(slots.slice(0, i), false);
      return wait;
    }
  }
  return 0;
}

/** Ends an attempt enterAll admitted, in every gate. */
export function leaveAll(slots: readonly GateSlot[], failed: boolean): void {
  for (const [gate, key] of slots) gate.leave(key, failed);
}

/**
 * One attempt through gates (entered as enterAll does): the pause when one is paused, else what
 * `check` found, a failure when it is falsy. The gates are left whatever happens: only a failed
 * check counts (a thrown one does not), and with `clears` a passed one forgets the failures of the
 * first gate's key (a right password: its owner is back).
 */
export async function attemptThrough<T>(slots: readonly GateSlot[], check: () => T | Promise<T>, clears: boolean): Promise<{ pausedMs: number } | { found: T }> {
  const wait = await enterAll(slots);
  if (wait > 0) return { pausedMs: wait };
  let failed = false;
  try {
    const found = await check();
    failed = !found;
    if (!failed && clears) slots[0]![0].clear(slots[0]![1]);
    return { found };
  } finally {
    leaveAll(slots, failed);
  }
}
