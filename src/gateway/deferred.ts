import { and, asc, eq, isNull, lte } from "drizzle-orm";
import type { deferredRequests } from "../store/schema";
import type { Store } from "../store/store";
import { all, get, run, type Q, type Work } from "../store/work";
import { reaches, type Asker } from "./reach";

export type DeferredRow = typeof deferredRequests.$inferSelect;

/** The deferred requests still waiting for their result, created at or before `before`, oldest first. */
export function pendingDeferred(q: Q, before = Number.MAX_SAFE_INTEGER): Work<DeferredRow[]> {
  const t = q.t.deferredRequests;
  return all(q.db.select().from(t).where(and(isNull(t.settledAt), lte(t.createdAt, before))).orderBy(asc(t.createdAt), asc(t.requestId)));
}

/**
 * Deferred chat completions: which account asked (only it may fetch the result), on which
 * upstream key and under which upstream id, and the hold kept until the result is charged or
 * the upstream forgets it. Rows outlive restarts (their holds are restored at start).
 */
export class DeferredRequests {
  /** Settlements under way in this process, by request id (dropped once settled). */
  private readonly settling = new Map<string, Promise<number>>();
  /** Charged results as their owner is shown them: later polls are answered without asking the upstream. */
  readonly results: KeptResults;
  /** When the gateway's poller last asked the upstream for each pending request (see settleDeferred). */
  readonly polled = new Map<string, number>();

  constructor(private readonly store: Store, keptChars = KEPT_RESULT_CHARS) {
    this.results = new KeptResults(keptChars);
  }

  /**
   * Runs `settle` unless a settlement of the same request is under way here, whose outcome is
   * shared then: two fetches at once (or a fetch and the poller) would otherwise both settle it.
   */
  once(requestId: string, settle: () => Promise<number>): Promise<number> {
    const running = this.settling.get(requestId);
    if (running) return running;
    const p = settle().finally(() => this.settling.delete(requestId));
    this.settling.set(requestId, p);
    return p;
  }

  async park(r: Omit<DeferredRow, "settledAt" | "chargeMicros">): Promise<void> {
    await this.store.tx((q) => run(q.db.insert(q.t.deferredRequests).values({ ...r, settledAt: null, chargeMicros: null })));
  }

  /** The request if `who` may reach it (see reaches); null otherwise (a 404 for the caller either way). */
  async owned(requestId: string, who: Asker): Promise<DeferredRow | null> {
    const r = await this.get(requestId);
    return r && (await reaches(this.store, who, r)) ? r : null;
  }

  async get(requestId: string): Promise<DeferredRow | null> {
    const d = this.store;
    return (await d.read((q) => get(q.db.select().from(q.t.deferredRequests).where(eq(q.t.deferredRequests.requestId, requestId))))) ?? null;
  }

  /** Still waiting for their result, created at or before `before`, oldest first. */
  pending(before = Number.MAX_SAFE_INTEGER): Promise<DeferredRow[]> {
    return this.store.read((q) => pendingDeferred(q, before));
  }

  /** Marks it charged (`charge`) or released (null); false when it was already settled (here or by another instance). */
  async settled(requestId: string, charge: number | null, at: number): Promise<boolean> {
    const r = await this.store.tx((q) => {
      const t = q.t.deferredRequests;
      return run(q.db.update(t).set({ settledAt: at, chargeMicros: charge }).where(and(eq(t.requestId, requestId), isNull(t.settledAt))));
    });
    return r.changes === 1;
  }
}

/** Characters of charged results kept at once (all ids); past it the least recently polled go first. */
export const KEPT_RESULT_CHARS = 16 * 1024 * 1024;

/**
 * Charged deferred results, by request id, within a budget of characters, least recently used
 * evicted first. Each poll of a charged result would otherwise ask the upstream again with the
 * key every customer shares; one evicted (or charged by another instance, or before a restart)
 * is fetched again once and kept again. Holds only charged results: a charge is never undone,
 * so what is kept never goes stale. Whoever reads it has checked the caller may reach the id.
 */
export class KeptResults {
  private readonly bodies = new Map<string, string>();
  private chars = 0;

  constructor(private readonly limit: number) {}

  get size(): { results: number; chars: number } {
    return { results: this.bodies.size, chars: this.chars };
  }

  get(requestId: string): string | undefined {
    const body = this.bodies.get(requestId);
    if (body === undefined) return undefined;
    // Most recently used last: eviction takes from the front.
    this.bodies.delete(requestId);
    this.bodies.set(requestId, body);
    return body;
  }

  /** Keeps `body` unless it alone exceeds the budget; evicts the least recently used to make room. */
  keep(requestId: string, body: string): void {
    this.drop(requestId);
    if (body.length > this.limit) return;
    for (const [id, b] of this.bodies) {
      if (this.chars + body.length <= this.limit) break;
      this.bodies.delete(id);
      this.chars -= b.length;
    }
    this.bodies.set(requestId, body);
    this.chars += body.length;
  }

  private drop(requestId: string): void {
    const b = this.bodies.get(requestId);
    if (b === undefined) return;
    this.bodies.delete(requestId);
    this.chars -= b.length;
  }
}
