import type { DeferredResult } from "../../gateway/deferred-results";
import type { Admission } from "../../gateway/limits/limiter";
import { SingleFlight } from "../../lib/in-flight";

/**
 * How long the upstream's last answer for a deferred id stands for the customer's next polls:
 * within it they get that answer (202 while pending) without asking the upstream again, whose
 * key the operator shares among all customers. xAI asks clients to poll every few seconds;
 * this is shorter, so that a client polling every half second sees the result at its next poll.
 */
export const DEFERRED_POLL_INTERVAL_MS = 400;

/**
 * The rate limits of the key polling: a poll that asks the upstream is one of its requests, as
 * any other (a poll answered from memory is not). `prepare` takes shared units first (several
 * instances); `admit` throws the key's 429.
 */
export interface PollLimits {
  prepare?(): Promise<() => void>;
  admit(): Admission;
}

type Outcome = { result: DeferredResult } | { error: unknown };

/**
 * The customers' polls of deferred results that only the upstream can answer (pending ones;
 * charged results are kept by DeferredRequests), per request id: at most one upstream fetch of
 * an id under way (polls that come meanwhile share it, free), and its answer (pending, or the
 * upstream's error) stands for DEFERRED_POLL_INTERVAL_MS. A poll that starts a fetch is a request
 * of its key's limits, so that a key polling many ids cannot ask the shared upstream key more
 * often than its limits let it ask anything. Keyed only by ids of the deferred table (the
 * caller checks first); an entry lasts one interval, so memory holds the ids polled within the
 * last interval at most. A released request is no entry: its row answers 404 from then on.
 */
export class DeferredPolls {
  /** Upstream fetches under way, by request id (dropped once answered). */
  private readonly fetching = new SingleFlight<string, DeferredResult>();
  /** By request id, in the order they expire (each is re-inserted when renewed). */
  private readonly recent = new Map<string, { until: number; outcome: Outcome }>();

  constructor(
    private readonly intervalMs = DEFERRED_POLL_INTERVAL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Ids whose last answer is remembered (within its interval), and upstream fetches under way. */
  get size(): { remembered: number; fetching: number } {
    this.sweep(this.now());
    return { remembered: this.recent.size, fetching: this.fetching.size };
  }

  /**
   * The answer for `requestId`: the remembered one within its interval, or the fetch under way;
   * else `fetch`'s, admitted by `limits` first (throws its 429 without asking the upstream).
   */
  async poll(requestId: string, fetch: () => Promise<DeferredResult>, limits?: PollLimits): Promise<DeferredResult> {
    const known = this.known(requestId);
    if (known) return known;
    if (limits?.prepare) {
      const unpend = await limits.prepare();
      unpend();
      // Another poll of the id may have started a fetch meanwhile: sharing it is free.
      const meanwhile = this.known(requestId);
      if (meanwhile) return meanwhile;
    }
    // Synchronous from here to the fetch's start: no other poll of the id slips in between.
    const admission = limits?.admit();
    const running = this.fetching.run(requestId, () => this.fetchOnce(requestId, fetch));
    if (!admission) return running;
    try {
      return await running;
    } finally {
      admission.settle(0);
      admission.release();
    }
  }

  /** The remembered answer within its interval, or the fetch under way; null when the upstream must be asked. */
  private known(requestId: string): Promise<DeferredResult> | null {
    const at = this.now();
    this.sweep(at);
    const seen = this.recent.get(requestId);
    if (seen && seen.until > at) return "error" in seen.outcome ? Promise.reject(seen.outcome.error) : Promise.resolve(seen.outcome.result);
    return this.fetching.get(requestId) ?? null;
  }

  private async fetchOnce(requestId: string, fetch: () => Promise<DeferredResult>): Promise<DeferredResult> {
    try {
      const result = await fetch();
      // Pending stands for the interval; a result is kept once charged (DeferredRequests), and 404 or 502 released it.
      if (result.status === 202) this.remember(requestId, { result });
      return result;
    } catch (error) {
      // The upstream's failure (its rate limit, a timeout) stands too: polling faster cannot mend it.
      this.remember(requestId, { error });
      throw error;
    }
  }

  private remember(requestId: string, outcome: Outcome): void {
    this.sweep(this.now());
    this.recent.delete(requestId);
    this.recent.set(requestId, { until: this.now() + this.intervalMs, outcome });
  }

  /** Drops the entries whose interval is over (the oldest first: all expire after the same interval). */
  private sweep(at: number): void {
    for (const [id, e] of this.recent) {
      if (e.until > at) return;
      this.recent.delete(id);
    }
  }
}
