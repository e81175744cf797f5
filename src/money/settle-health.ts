/** How long after a settlement failed to commit readiness still reports it, without a success since. */
const RECENT_MS = 30_000;
/** While charges fail, one request this often is let in to try again. */
const PROBE_MS = 1_000;

/**
 * Whether settlements commit (a full disk, a lost database): readiness turns 503 while they do
 * not, so a balancer sends requests to an instance that can charge them. A failure is reported
 * until a settlement commits again, or for 30 s when no traffic comes to try (a charge waiting
 * for its retry keeps it reported meanwhile, and its retries are the probe).
 */
export class SettleHealth {
  private failedAt: number | null = null;
  /** When the last request was let in to try the storage again while charges fail. */
  private probedAt = Number.NEGATIVE_INFINITY;

  failed(now = performance.now()): void {
    this.failedAt = now;
    // The next try of the storage by a new request, a second from now.
    this.probedAt = now;
  }

  /** A settlement committed: called on every commit, so it costs one comparison when healthy. */
  ok(): void {
    if (this.failedAt !== null) this.failedAt = null;
  }

  /**
   * Whether a new request may be admitted: not while charges fail to commit (its answer would go
   * out unpaid, or be paid upstream and refused), except one a second, which tries the storage
   * again (its charge retried like any). Journaled settlements SQLite cannot take yet are no reason:
   * their charges are durable; nor are charges waiting for their retry once a commit has gone
   * through since (the storage works again: they commit at their own retry, which alone keeps
   * their holds from the sweeper).
   */
  admits(now = performance.now()): boolean {
    if (this.failedAt === null || now - this.failedAt >= RECENT_MS) return true;
    if (now - this.probedAt < PROBE_MS) return false;
    this.probedAt = now;
    return true;
  }

  /** `waiting`: charges that failed to commit and wait for their retry; `behind`: SQLite cannot take journaled settlements. */
  failing(waiting: number, behind = false, now = performance.now()): boolean {
    if (waiting > 0 || behind) return true;
    return this.failedAt !== null && now - this.failedAt < RECENT_MS;
  }
}
