import type { DeferredResult } from "../../gateway/deferred-results";
import { SingleFlight } from "../../lib/in-flight";

/**
 * How long the upstream's last answer for a deferred id stands for the customer's next polls:
 * within it they get that answer (202 while pending) without asking the upstream again, whose
 * key the operator shares among all customers. xAI asks clients to poll every few seconds;
 * this is shorter, so that a client polling every half second sees the result at its next poll.
 */
export const DEFERRED_POLL_INTERVAL_MS = 400;

/** Result bodies remembered at once (all ids), in characters; past it a result is not remembered (only shared while fetched). */
const REMEMBERED_BODY_CHARS = 8 * 1024 * 1024;

type Outcome = { result: DeferredResult } | { error: unknown };

/**
 * The customers' polls of deferred results, per request id: at most one upstream fetch of an id
 * under way (polls that come meanwhile share it), and its answer (pending, the result, or the
 * upstream's error) stands for DEFERRED_POLL_INTERVAL_MS. Keyed only by ids of the deferred
 * table (the caller checks first); an entry lasts one interval, so memory holds the ids polled
 * within the last interval at most. A released request is no entry: its row answers 404 from
 * then on without asking the upstream.
 */
export class DeferredPolls {
  private readonly fetching = new SingleFlight<string, DeferredResult>();
  /** By request id, in the order they expire (each is re-inserted when renewed). */
  private readonly recent = new Map<string, { until: number; outcome: Outcome; chars: number }>();
  private chars = 0;

  constructor(
    private readonly intervalMs = DEFERRED_POLL_INTERVAL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Ids whose last answer is remembered (within its interval), and upstream fetches under way. */
  get size(): { remembered: number; fetching: number } {
    this.sweep(this.now());
    return { remembered: this.recent.size, fetching: this.fetching.size };
  }

  /** The answer for `requestId`: the remembered one within its interval, else `fetch`'s (shared with concurrent polls). */
  async poll(requestId: string, fetch: () => Promise<DeferredResult>): Promise<DeferredResult> {
    const at = this.now();
    this.sweep(at);
    const seen = this.recent.get(requestId);
    if (seen && seen.until > at) {
      if ("error" in seen.outcome) throw seen.outcome.error;
      return seen.outcome.result;
    }
    return this.fetching.run(requestId, async () => {
      try {
        const result = await fetch();
        // Pending, or the result (charged once already: its answer shows that charge); 404 and 502 released it.
        if (result.status === 202 || result.status === 200) this.remember(requestId, { result });
        return result;
      } catch (error) {
        // The upstream's failure (its rate limit, a timeout) stands too: polling faster cannot mend it.
        this.remember(requestId, { error });
        throw error;
      }
    });
  }

  private remember(requestId: string, outcome: Outcome): void {
    this.sweep(this.now());
    this.forget(requestId);
    const chars = "result" in outcome && outcome.result.status === 200 ? outcome.result.body.length : 0;
    if (this.chars + chars > REMEMBERED_BODY_CHARS) return;
    this.recent.set(requestId, { until: this.now() + this.intervalMs, outcome, chars });
    this.chars += chars;
  }

  private forget(requestId: string): void {
    const e = this.recent.get(requestId);
    if (!e) return;
    this.recent.delete(requestId);
    this.chars -= e.chars;
  }

  /** Drops the entries whose interval is over (the oldest first: all expire after the same interval). */
  private sweep(at: number): void {
    for (const [id, e] of this.recent) {
      if (e.until > at) return;
      this.recent.delete(id);
      this.chars -= e.chars;
    }
  }
}
