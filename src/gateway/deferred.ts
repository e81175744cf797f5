import { and, asc, eq, inArray, isNotNull, isNull, lt, lte, or, sql } from "drizzle-orm";
import type { Model } from "../config/load";
import type { ModelPrices } from "../money/pricing";
import type { deferredRequests } from "../store/schema";
import type { Store } from "../store/store";
import { all, get, run, type Q, type Work } from "../store/work";
import { reaches, type Asker } from "./reach";
import { SingleFlight } from "../lib/in-flight";

export type DeferredRow = typeof deferredRequests.$inferSelect;

/** What a poll of a deferred request gets: the result, pending, gone (404) or unreadable (502). */
export type DeferredResult = { status: 200; body: string } | { status: 202 } | { status: 404 } | { status: 502 };

/**
 * The prices a deferred result is charged at: the model's when it was parked, else (a row parked
 * before they were kept) the model's now; null when neither is known (the model is gone).
 */
export function parkedPrices(row: DeferredRow, models: readonly Model[]): ModelPrices | null {
  if (row.prices !== null) return JSON.parse(row.prices) as ModelPrices;
  return models.find((m) => m.id === row.model) ?? null;
}

/**
 * Clears the results kept of requests settled before `before`. It runs every minute on the event
 * loop: through the partial index of rows with a result (deferred_results_kept) it reads only the
 * rows it changes, however many deferred requests were ever made.
 */
export function forgetResultsQuery(q: Pick<Q, "db" | "t">, before: number) {
  const t = q.t.deferredRequests;
  return q.db.update(t).set({ result: null }).where(and(isNotNull(t.result), lt(t.settledAt, before)));
}

/** The deferred requests still waiting for their result, created at or before `before`, oldest first. */
export function pendingDeferred(q: Q, before = Number.MAX_SAFE_INTEGER): Work<DeferredRow[]> {
  const t = q.t.deferredRequests;
  return all(q.db.select().from(t).where(and(isNull(t.settledAt), lte(t.createdAt, before))).orderBy(asc(t.createdAt), asc(t.requestId)));
}

/** A pending request as the poller first reads it: which, whose, and how old. */
export type PendingKey = Pick<DeferredRow, "requestId" | "accountId" | "createdAt">;

/** Up to `limit` pending requests created at or before `before`, after `after` in (created_at, request_id) order: ids and ages only. */
export function pendingKeysQuery(q: Q, before: number, after: PendingKey | null, limit: number): Work<PendingKey[]> {
  const t = q.t.deferredRequests;
  // A row-value comparison: both stores walk the index from there (an OR of the two parts would not).
  const next = after ? sql`(${t.createdAt}, ${t.requestId}) > (${after.createdAt}, ${after.requestId})` : undefined;
  return all(
    q.db
      .select({ requestId: t.requestId, accountId: t.accountId, createdAt: t.createdAt })
      .from(t)
      .where(and(isNull(t.settledAt), lte(t.createdAt, before), next))
      .orderBy(asc(t.createdAt), asc(t.requestId))
      .limit(limit),
  );
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
  /** Fetches under way in this process (a customer's poll and the poller share one). */
  readonly fetches = new SingleFlight<string, DeferredResult>();
  /**
   * The rate limits' token estimates of requests parked here, to correct with the real usage once
   * charged (as any request's at its settlement): memory only, a restart forgets them.
   */
  private readonly estimates = new Map<string, (actualTokens: number) => void>();

  /** Keeps the correction of a parked request's token estimate for its settlement. */
  awaitTokens(requestId: string, settle: (actualTokens: number) => void): void {
    // Bounded: one charged by another instance is never settled here (the oldest go first).
    if (this.estimates.size >= MAX_ESTIMATES) this.estimates.delete(this.estimates.keys().next().value!);
    this.estimates.set(requestId, settle);
  }

  /** The request used `tokens` (0 when released): its rate limits' estimate is corrected. */
  usedTokens(requestId: string, tokens: number): void {
    const settle = this.estimates.get(requestId);
    if (!settle) return;
    this.estimates.delete(requestId);
    settle(tokens);
  }

  /** `instanceId`: this instance's on a shared database, recorded as the one whose memory holds a parked request's credit. */
  constructor(private readonly store: Store, private readonly instanceId: string | null = null, keptChars = KEPT_RESULT_CHARS) {
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

  async park(r: Omit<DeferredRow, "settledAt" | "chargeMicros" | "result" | "fetchingUntil" | "parkedBy">): Promise<void> {
    const row = { ...r, settledAt: null, chargeMicros: null, result: null, fetchingUntil: null, parkedBy: this.instanceId };
    await this.store.tx((q) => run(q.db.insert(q.t.deferredRequests).values(row)));
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

  /** A slice of the pending requests' ids and ages (see pendingKeysQuery). */
  pendingKeys(before: number, after: PendingKey | null, limit: number): Promise<PendingKey[]> {
    return this.store.read((q) => pendingKeysQuery(q, before, after, limit));
  }

  /** The requests of `ids` still pending, whole, in the order of `ids`. */
  async pendingRows(ids: readonly string[]): Promise<DeferredRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.store.read((q) => {
      const t = q.t.deferredRequests;
      return all(q.db.select().from(t).where(and(inArray(t.requestId, [...ids]), isNull(t.settledAt))));
    });
    const byId = new Map(rows.map((r) => [r.requestId, r]));
    return ids.map((id) => byId.get(id)).filter((r): r is DeferredRow => r !== undefined);
  }

  /**
   * Takes the right to ask the upstream for the result for `ms`: the upstream serves a result once,
   * so one fetch (of any instance) asks at a time. False while another holds it.
   */
  async claim(requestId: string, now: number, ms = FETCH_CLAIM_MS): Promise<boolean> {
    const r = await this.store.tx((q) => {
      const t = q.t.deferredRequests;
      const free = or(isNull(t.fetchingUntil), lt(t.fetchingUntil, now));
      return run(q.db.update(t).set({ fetchingUntil: now + ms }).where(and(eq(t.requestId, requestId), isNull(t.settledAt), isNull(t.result), free)));
    });
    return r.changes === 1;
  }

  /** Gives the claim back (the upstream's answer was "pending", or asking failed). */
  async unclaim(requestId: string): Promise<void> {
    await this.store.tx((q) => run(q.db.update(q.t.deferredRequests).set({ fetchingUntil: null }).where(eq(q.t.deferredRequests.requestId, requestId))));
  }

  /**
   * Keeps the claim until `until`: a result larger than the gateway reads is not asked for again
   * (the upstream serves it once), and its hold stays until then.
   */
  async holdClaim(requestId: string, until: number): Promise<void> {
    await this.store.tx((q) => run(q.db.update(q.t.deferredRequests).set({ fetchingUntil: until }).where(eq(q.t.deferredRequests.requestId, requestId))));
  }

  /** Records the upstream's answer before anything is charged for it: the upstream will not serve it again. */
  async fetched(requestId: string, result: string): Promise<void> {
    await this.store.tx((q) => run(q.db.update(q.t.deferredRequests).set({ result, fetchingUntil: null }).where(eq(q.t.deferredRequests.requestId, requestId))), { durable: true });
  }

  /** Forgets the answers of requests settled before `before` (a day's keeping, as the upstream's). */
  async forgetResults(before: number): Promise<number> {
    const r = await this.store.tx((q) => run(forgetResultsQuery(q, before)));
    return r.changes;
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

/** Token estimates of parked requests kept for their correction at most (see awaitTokens). */
const MAX_ESTIMATES = 100_000;

/** How long a fetch may ask the upstream before another may (a fetch that died meanwhile). */
export const FETCH_CLAIM_MS = 60_000;

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
