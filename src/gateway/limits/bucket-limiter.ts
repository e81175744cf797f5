import type { Principal } from "../key-auth";
import { RenamedSlots } from "./renamed-slots";
import { type Bucket, capacity, fullBucket, refill, UNIT, waitMs, wholeTokens } from "./bucket";
import { level, type Level, type LevelState, limitsView, render, type Scope, slotOf } from "./levels";
import { type Binding, bindingWait, mustWait, tooLarge, tooManyConcurrent } from "./limit-errors";
import type { Admission, LimitsView, RateLimiter } from "./limiter";
import { effectivePlan, keyLevel, type Limits, type PlanPolicy } from "./plans";
import { decrement } from "../../lib/tally";

/** A persisted bucket (table ratelimit_buckets). */
export interface BucketRow {
  id: string;
  level: number;
  perMinute: number;
  updatedAt: number;
}

/** Where snapshots go (SQLite in production, nothing in unit tests). */
export interface BucketStore {
  load(): BucketRow[];
  /** Upserts and deletes in one transaction. */
  save(upserts: BucketRow[], deletes: string[]): void;
}

/**
 * Token buckets per key and per account, authoritative in memory (JavaScript runs one callback at
 * a time, so check-and-charge is atomic) and snapshotted to the database by `persist()`: no write
 * per request. Each level has a request bucket (capacity rpm), a token bucket (capacity tpm) and
 * a count of requests in flight; a request is admitted only if every level admits it.
 */
export class BucketLimiter implements RateLimiter {
  protected readonly buckets = new Map<string, Bucket>();
  private readonly dirty = new Set<string>();
  protected readonly inflight = new Map<string, number>();
  /** Requests whose bodies are being read, per level: they count against its concurrency too. */
  private readonly reading = new Map<string, number>();
  /** Key slots moved to a rotated line's newest key (the requests in flight go with them). */
  private readonly renamed = new RenamedSlots();
  /** Levels per principal: authentication hands out the same Principal while its rows are unchanged. */
  private readonly resolved = new WeakMap<Principal, { plan: string; levels: Level[] }>();
  protected readonly clock: () => number;
  private readonly store?: BucketStore;
  /** Buckets refill here (one process); not when they are grants of shared buckets (SharedLimiter). */
  protected refills = true;

  constructor(
    private readonly policy: PlanPolicy,
    opts: { now?: () => number; store?: BucketStore } = {},
  ) {
    const now = opts.now ?? Date.now;
    this.clock = () => Math.floor(now());
    this.store = opts.store;
    for (const r of this.store?.load() ?? []) {
      if (r.perMinute > 0) this.buckets.set(r.id, { level: r.level, at: r.updatedAt, perMinute: r.perMinute });
    }
  }

  admit(p: Principal, estimatedTokens: number): Admission {
    const now = this.clock();
    const est = wholeTokens(estimatedTokens);
    const { levels } = this.resolve(p);
    const states = levels.map((level) => this.state(level, now));
    // Every check comes before any charge: a refused request costs nothing at any level.
    const refused = this.refusal(states, est, now);
    if (refused) throw refused;
    this.take(states, est);
    return this.admission(levels, est, render(states));
  }

  /** Why admit refuses, if it does: decided on this process's buckets, told as answers report them. */
  private refusal(states: LevelState[], est: number, now: number): Error | undefined {
    const big = states.find((s) => est > s.level.limits.tpm);
    const binding = big ? undefined : bindingWait(states, est);
    const full = big || binding ? undefined : states.find((s) => (this.inflight.get(s.level.slot) ?? 0) >= this.slots(s.level));
    if (!big && !binding && !full) return undefined;
    // Told with the shared buckets on SharedLimiter; one bigger than a bucket holds is never retried.
    const shown = states.map((s) => this.reported(s.level, now));
    const as = (s: LevelState) => shown[states.indexOf(s)]!;
    if (big) return tooLarge(as(big), est, shown);
    if (binding) return mustWait({ ...binding, s: as(binding.s) }, est, shown);
    return tooManyConcurrent(as(full!), shown);
  }

  beforeBody(p: Principal): () => void {
    const now = this.clock();
    const { levels } = this.resolve(p);
    for (const l of levels) {
      if (this.waitsBeforeBody(l, now) || this.busy(l.slot) >= l.limits.concurrency) throw this.refusedBeforeBody(levels, now);
    }
    for (const l of levels) this.reading.set(l.slot, (this.reading.get(l.slot) ?? 0) + 1);
    let read = false;
    return () => {
      if (read) return;
      read = true;
      for (const l of this.renamed.liveAll(levels)) decrement(this.reading, l.slot, 1);
    };
  }

  refusedAfterBody(p: Principal, tokens = 0): void {
    const now = this.clock();
    for (const l of this.resolve(p).levels) {
      // Below zero is a debt (as tokens beyond an estimate): the next requests wait it out.
      this.bucket(l, "r", now).level -= UNIT;
      // A refused body's debt is at most a minute of tokens: an honest mistake is not a long lockout.
      const t = this.bucket(l, "t", now);
      t.level = Math.min(t.level, Math.max(t.level - wholeTokens(tokens) * UNIT, this.debtFloor(l, now)));
      this.dirty.add(l.r).add(l.t);
    }
  }

  /** No request left this minute, or tokens in debt: any request is refused, whatever its estimate. */
  protected waitsBeforeBody(l: Level, now: number): boolean {
    return waitMs(this.bucket(l, "r", now), UNIT, l.limits.rpm) > 0 || waitMs(this.bucket(l, "t", now), 0, l.limits.tpm) > 0;
  }

  /** The wait of beforeBody's 429, when a bucket (not a concurrency slot) refused. */
  protected bodyBinding(states: LevelState[], _now: number): Binding | undefined {
    return bindingWait(states, 0);
  }

  /** The lowest a refused body leaves a level's token bucket. */
  protected debtFloor(l: Level, _now: number): number {
    return -capacity(l.limits.tpm);
  }

  /** The 429 of beforeBody: built only on refusal (an admitted body allocates nothing there). */
  private refusedBeforeBody(levels: Level[], now: number): Error {
    const states = levels.map((level) => this.reported(level, now));
    const binding = this.bodyBinding(states, now);
    if (binding) return mustWait(binding, 0, states);
    const full = states.find((s) => this.busy(s.level.slot) >= s.level.limits.concurrency);
    return tooManyConcurrent(full ?? states[0]!, states);
  }

  /** Requests of a level in flight or having their bodies read. */
  private busy(slot: string): number {
    return (this.inflight.get(slot) ?? 0) + (this.reading.get(slot) ?? 0);
  }

  headers(p: Principal): Record<string, string> {
    const now = this.clock();
    return render(this.resolve(p).levels.map((level) => this.reported(level, now)));
  }

  /** A level as the answers' headers and messages report it (SharedLimiter: with the shared buckets). */
  protected reported(level: Level, now: number): LevelState {
    return this.state(level, now);
  }

  limits(p: Principal): LimitsView {
    const now = this.clock();
    const { plan, levels } = this.resolve(p);
    return limitsView(plan, levels.map((level) => this.reported(level, now)), (l) => this.busy(l.slot));
  }

  /** Requests in flight for a key (`key`) or account (`account`) id; for tests and diagnostics. */
  inFlight(scope: Scope, id: string): number {
    return this.inflight.get(slotOf(scope, id)) ?? 0;
  }

  /**
   * Snapshots changed buckets. Full buckets are dropped from memory and from the table (a missing
   * bucket is a full one), which also bounds memory to the recently active keys and accounts.
   */
  persist(): number {
    const now = this.clock();
    const upserts: BucketRow[] = [];
    const deletes = new Set<string>();
    for (const [id, b] of this.buckets) {
      refill(b, b.perMinute, now);
      if (b.level >= capacity(b.perMinute)) {
        this.buckets.delete(id);
        deletes.add(id);
      } else if (this.dirty.has(id)) {
        upserts.push({ id, level: b.level, perMinute: b.perMinute, updatedAt: b.at });
      }
    }
    for (const id of this.dirty) if (!this.buckets.has(id)) deletes.add(id);
    const dirty = [...this.dirty];
    this.dirty.clear();
    try {
      this.store?.save(upserts, [...deletes]);
    } catch (e) {
      // Keep them dirty: the next snapshot retries.
      for (const id of dirty) this.dirty.add(id);
      throw e;
    }
    return upserts.length + deletes.size;
  }

  protected resolve(p: Principal): { plan: string; levels: Level[] } {
    let r = this.resolved.get(p);
    if (!r) {
      const plan = effectivePlan(this.policy, p.plan);
      // The key level is the rotation line's (its newest key): a key in its grace and its replacement share it.
      r = { plan: plan.name, levels: [level("key", p.capKeyId, keyLevel(plan.limits, p.keyLimits)), level("account", p.accountId, plan.limits)] };
      this.resolved.set(p, r);
    }
    return r;
  }

  /** A key was rotated: the line's buckets and requests in flight go on under the new key, or rotation would refill them. */
  keyRotated(oldKeyId: string, newKeyId: string): void {
    this.renamed.rename(oldKeyId, newKeyId, { counts: [this.inflight, this.reading], buckets: this.buckets, dirty: this.dirty });
  }

  protected state(level: Level, now: number): LevelState {
    return { level, req: this.bucket(level, "r", now), tok: this.bucket(level, "t", now) };
  }

  protected bucket(level: Level, dim: "r" | "t", now: number): Bucket {
    const id = level[dim];
    const perMinute = dim === "r" ? level.limits.rpm : level.limits.tpm;
    let b = this.buckets.get(id);
    if (!b) this.buckets.set(id, (b = this.refills ? fullBucket(perMinute, now) : { level: 0, at: now, perMinute }));
    if (this.refills) return refill(b, perMinute, now);
    // Grants of a shared bucket: taken and given back at the limits as they are now (a plan or an
    // override may have changed), and never more than a lowered bucket could hold.
    if (b.perMinute !== perMinute) {
      b.perMinute = perMinute;
      b.level = Math.min(b.level, capacity(perMinute));
    }
    return b;
  }

  /** How many requests of a level may be in flight here (a shared limiter: the slots it leases). */
  protected slots(level: Level): number {
    return level.limits.concurrency;
  }

  /** Charges the request and its estimate to every level and takes a slot at each. */
  protected take(states: LevelState[], est: number): void {
    for (const s of states) {
      s.req.level -= UNIT;
      s.tok.level -= est * UNIT;
      this.dirty.add(s.level.r).add(s.level.t);
      this.inflight.set(s.level.slot, (this.inflight.get(s.level.slot) ?? 0) + 1);
    }
  }

  /** The handle the proxy settles, releases or cancels; settle and cancel act once between them. */
  private admission(levels: Level[], est: number, headers: Record<string, string>): Admission {
    let settled = false;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.freeSlots(this.renamed.liveAll(levels));
    };
    return {
      headers,
      release,
      cancel: () => {
        if (!settled) {
          settled = true;
          this.refund(this.renamed.liveAll(levels), est);
        }
        release();
      },
      settle: (actualTokens: number) => {
        if (settled) return;
        settled = true;
        const actual = wholeTokens(actualTokens);
        if (actual !== est) this.correct(this.renamed.liveAll(levels), actual - est);
      },
    };
  }

  protected freeSlots(levels: Level[]): void {
    for (const level of levels) {
      const k = level.slot;
      const n = (this.inflight.get(k) ?? 1) - 1;
      if (n > 0) this.inflight.set(k, n);
      else this.inflight.delete(k);
    }
  }

  /** Gives back the request and its estimated tokens (capped at capacity). */
  private refund(levels: Level[], est: number): void {
    const at = this.clock();
    for (const level of levels) {
      for (const [dim, units] of [["r", UNIT], ["t", est * UNIT]] as const) {
        const b = this.bucket(level, dim, at);
        b.level = Math.min(capacity(dim === "r" ? level.limits.rpm : level.limits.tpm), b.level + units);
        this.dirty.add(level[dim]);
      }
    }
  }

  /** Charges `extra` more tokens than estimated (negative: fewer) to every level. */
  private correct(levels: Level[], extra: number): void {
    const at = this.clock();
    for (const level of levels) {
      const b = this.bucket(level, "t", at);
      // More than estimated leaves a debt that delays the next admissions; less is refunded.
      b.level = Math.min(capacity(level.limits.tpm), b.level - extra * UNIT);
      this.dirty.add(level.t);
    }
  }
}
