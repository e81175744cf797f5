/** How long after a settlement failed to commit readiness still reports it, without a success since. */
const RECENT_MS = 30_000;

/**
 * Whether settlements commit (a full disk, a lost database): readiness turns 503 while they do
 * not, so a balancer sends requests to an instance that can charge them. A failure is reported
 * until a settlement commits again, or for 30 s when no traffic comes to try (a charge waiting
 * for its retry keeps it reported meanwhile, and its retries are the probe).
 */
export class SettleHealth {
  private failedAt: number | null = null;

  failed(now = performance.now()): void {
    this.failedAt = now;
  }

  /** A settlement committed: called on every commit, so it costs one comparison when healthy. */
  ok(): void {
    if (this.failedAt !== null) this.failedAt = null;
  }

  /** `waiting`: charges that failed to commit and wait for their retry; `behind`: SQLite cannot take journaled settlements. */
  failing(waiting: number, behind = false, now = performance.now()): boolean {
    if (waiting > 0 || behind) return true;
    return this.failedAt !== null && now - this.failedAt < RECENT_MS;
  }
}
