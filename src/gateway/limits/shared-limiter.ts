import { LeaseBook } from "../../money/pg/lease-book";
import { leaseWants } from "../../money/pg/lease-wants";
import type { Scope } from "../../money/pg/scopes";
import type { PgStore } from "../../store/pg-store";
import type { Principal } from "../key-auth";
import { capacity, UNIT, wholeTokens } from "./bucket";
import { BucketLimiter } from "./bucket-limiter";
import type { Level, LevelState } from "./levels";
import { type Binding, countingItsRequest } from "./limit-errors";
import type { Admission, LimitsView } from "./limiter";
import type { PlanPolicy } from "./plans";
import { forgettable, giveToBucket, leftNow, readBuckets, type Shared, shiftPromised, takeFromBucket, withShared } from "./shared-buckets";

/** Each take asks for at least this share of a bucket's capacity (fewer round trips; the error bound). */
const BATCH_DIVISOR = 20;
/** Units not used for this long go back to the shared bucket. */
const IDLE_MS = 1_000;

/**
 * Rate limits shared by every instance on PostgreSQL. The buckets refill in the database
 * (ratelimit_shared); each instance takes units in batches of 1/20 of a bucket's capacity and
 * admits from them in memory with the embedded limiter's own rules, then gives back what it does
 * not use within a second. Nothing is admitted beyond a limit; the error is on the safe side: at
 * most (instances − 1) batches held elsewhere while this instance refuses. Concurrency slots are
 * leased like credit (credit_leases, scope `conc:`) and return when requests end: to the lease,
 * or to the database at once when the limit is small (exact leases), else after 10 s unused or
 * at once when another instance short of slots asks for them (as credit is: LeaseBook.wanted).
 */
export class SharedLimiter extends BucketLimiter {
  private readonly shared = new Map<string, Shared>();
  private readonly slotsBook: LeaseBook;

  constructor(policy: PlanPolicy, private readonly pg: PgStore, opts: { instanceId: string; now?: () => number }) {
    super(policy, { now: opts.now });
    this.refills = false;
    // A request short of a slot asks the others for theirs and waits briefly, rather than a 429 while they idle.
    this.slotsBook = new LeaseBook(pg, { instanceId: opts.instanceId, now: this.clock, want: leaseWants(pg, () => this.slotsBook, opts.instanceId) });
  }

  /**
   * Takes the request's units and slot into this instance, promised to it (as `demand`) until the
   * function it resolves to is called, by the admission right before it decides. Once it decided,
   * a small concurrency limit's slot not taken goes back (LeaseBook.trim): another instance may need it.
   */
  async prepare(p: Principal, estimatedTokens: number): Promise<() => void> {
    const est = Number.isFinite(estimatedTokens) && estimatedTokens > 0 ? Math.ceil(estimatedTokens) : 0;
    const { levels } = this.resolve(p);
    // Each call promises its part synchronously, before its first await: undo covers them all.
    const taking = Promise.all(levels.flatMap((l) => [this.topUp(l, "r", UNIT), this.topUp(l, "t", est * UNIT), this.slot(l)]));
    let undone = false;
    const undo = () => {
      if (undone) return;
      undone = true;
      for (const l of levels) {
        this.unpend(l.r, UNIT);
        this.unpend(l.t, est * UNIT);
        this.slotsBook.unpend(concKey(l), 1);
      }
      // After the admission's synchronous decision: a slot it took is held by then.
      queueMicrotask(() => {
        for (const l of levels) this.slotsBook.trim(concKey(l));
      });
    };
    try {
      await taking;
    } catch (e) {
      undo();
      throw e;
    }
    return undo;
  }

  /** Decides as the embedded limiter does, on what is not promised to requests still preparing. */
  override admit(p: Principal, estimatedTokens: number, afterBody = false): Admission {
    const ids = this.resolve(p).levels.flatMap((l) => [l.r, l.t]);
    shiftPromised(this.buckets, this.shared, ids, -1);
    let a: Admission;
    try {
      a = super.admit(p, estimatedTokens);
    } catch (e) {
      throw (afterBody && this.withItsRequest(p, wholeTokens(estimatedTokens))) || e;
    } finally {
      shiftPromised(this.buckets, this.shared, ids, 1);
    }
    return { settle: a.settle, release: a.release, cancel: a.cancel, headers: this.headers(p) };
  }

  /** An RPM 429 after the body costs its request (refusedAfterBody), which takes the refill it waited for: it waits for both. */
  private withItsRequest(p: Principal, est: number): Error | undefined {
    const now = this.clock();
    const levels = this.resolve(p).levels;
    return countingItsRequest(levels.map((l) => this.state(l, now)), levels.map((l) => this.reported(l, now)), est);
  }

  private unpend(id: string, units: number): void {
    const s = this.shared.get(id);
    if (s && units > 0) s.promised -= units;
  }

  /** Headers and 429s count what this instance holds and what was left in the shared buckets. */
  protected override reported(level: Level, now: number): LevelState {
    return withShared(this.state(level, now), this.shared, now);
  }

  /** GET /v1/me: the shared buckets read first, so what it tells is the database's, not this instance's last take. */
  async freshLimits(p: Principal): Promise<LimitsView> {
    const now = this.clock();
    const dims = this.resolve(p).levels.flatMap((l) => [[l.r, l.limits.rpm], [l.t, l.limits.tpm]] as const);
    const left = await this.pg.read((q) => readBuckets(q, dims, now));
    dims.forEach(([id, perMinute], i) => Object.assign(this.entry(id, perMinute), { left: left[i]!, leftAt: now }));
    return this.limits(p);
  }

  /** A refused body's request and tokens are a debt of this grant, paid from the shared bucket as far as it holds (maintain pays the rest). */
  override refusedAfterBody(p: Principal, tokens = 0): void {
    const levels = this.resolve(p).levels;
    const before = levels.map((l) => this.bucket(l, "t", this.clock()).level);
    super.refusedAfterBody(p, tokens);
    levels.forEach((l, i) => {
      const added = before[i]! - this.bucket(l, "t", this.clock()).level;
      // A failed payment stays a local debt: maintain pays it.
      void this.payDebt(l.r).catch(() => {});
      void this.payDebt(l.t).finally(() => this.floorDebt(l, added)).catch(() => {});
    });
  }

  /** Once paid, a refused body's debt (`added`) is at most a minute's counting what the shared bucket held (debtFloor guessed). */
  private floorDebt(l: Level, added: number): void {
    const b = this.buckets.get(l.t);
    const beyond = b ? -capacity(l.limits.tpm) - this.leftNow(l.t, l.limits.tpm, this.clock()) - b.level : 0;
    if (b && beyond > 0 && added > 0) b.level += Math.min(beyond, added);
  }

  /** As one process: refuses unread a request or a debt the grant and the shared bucket as last seen, refilled since, cannot cover. */
  protected override waitsBeforeBody(l: Level, now: number): boolean {
    return this.short(l, "r", now) > 0 || this.short(l, "t", now) > 0;
  }

  protected override bodyBinding(states: LevelState[], now: number): Binding | undefined {
    let best: Binding | undefined;
    for (const s of states) {
      for (const [dim, type, perMinute] of [["r", "requests", s.level.limits.rpm], ["t", "tokens", s.level.limits.tpm]] as const) {
        const wait = Math.ceil(this.short(s.level, dim, now) / perMinute);
        if (wait > (best?.wait ?? 0)) best = { s, type, wait };
      }
    }
    return best;
  }

  /** As on one process, at most a minute's debt counting the shared bucket (as far as known: see floorDebt). */
  protected override debtFloor(l: Level, now: number): number {
    return -capacity(l.limits.tpm) - this.leftNow(l.t, l.limits.tpm, now);
  }

  /** Units the grant and the shared bucket lack now for a request ("r") or to pay a token debt ("t"); 0 when none. */
  private short(level: Level, dim: "r" | "t", now: number): number {
    const held = this.buckets.get(level[dim])?.level ?? 0;
    const perMinute = dim === "r" ? level.limits.rpm : level.limits.tpm;
    return Math.max(0, (dim === "r" ? UNIT : 0) - held - this.leftNow(level[dim], perMinute, now));
  }

  private leftNow(id: string, perMinute: number, now: number): number {
    return leftNow(this.shared.get(id), perMinute, now);
  }

  /** Takes a bucket's debt from the shared bucket, as much as it holds; a take under way covers it too (awaited). */
  private async payDebt(id: string): Promise<void> {
    const b = this.buckets.get(id);
    if (!b || b.level >= 0) return;
    const s = this.entry(id, b.perMinute);
    if (s.inflight) return void (await s.inflight.catch(() => false));
    await (s.inflight = this.takeBatch(id, b.perMinute, -b.level).finally(() => {
      s.inflight = null;
    }));
  }

  private entry(id: string, perMinute: number): Shared {
    let s = this.shared.get(id);
    const now = this.clock();
    if (!s) this.shared.set(id, (s = { perMinute, left: capacity(perMinute), leftAt: now, usedAt: 0, demand: 0, promised: 0, inflight: null }));
    s.perMinute = perMinute;
    return s;
  }

  /** Nothing to snapshot: the buckets live in the database. Gives back idle units (see maintain). */
  override persist(): number {
    return 0;
  }

  /** Pays debts, gives idle units and slots back and renews slot leases (every second, from the server's timers). */
  async maintain(): Promise<void> {
    for (const [id, b] of this.buckets) if (b.level < 0) await this.payDebt(id);
    await this.giveBack(this.clock() - IDLE_MS);
    this.forget(this.clock());
    await this.slotsBook.maintain();
  }

  /** Forgets grants given back whose shared bucket is full again (as one never seen is): memory for the keys in use, not every key seen. */
  private forget(now: number): void {
    for (const [id, s] of this.shared) {
      if (!forgettable(s, this.buckets.get(id)?.level ?? 0, now - IDLE_MS, now)) continue;
      this.shared.delete(id);
      this.buckets.delete(id);
    }
  }

  /** At shutdown: every unit and slot not in use goes back to the other instances at once. */
  async releaseAll(): Promise<void> {
    await this.giveBack(Number.POSITIVE_INFINITY);
    await this.slotsBook.releaseAll();
  }

  private async giveBack(usedBefore: number): Promise<void> {
    for (const [id, s] of this.shared) {
      const b = this.buckets.get(id);
      if (!b || b.level <= 0 || s.usedAt > usedBefore || s.demand > 0 || s.promised > 0) continue;
      const units = b.level;
      b.level = 0;
      s.left = Math.min(capacity(b.perMinute), this.leftNow(id, b.perMinute, this.clock()) + units);
      s.leftAt = this.clock();
      await this.pg.tx((q) => giveToBucket(q, id, b.perMinute, units), { isolation: "read committed" });
    }
  }

  protected override slots(level: Level): number {
    const l = this.slotsBook.peek(concKey(level));
    return l ? (this.inflight.get(level.slot) ?? 0) + this.slotsBook.spare(l) : 0;
  }

  protected override take(states: LevelState[], est: number): void {
    super.take(states, est);
    const now = this.clock();
    for (const s of states) {
      this.syncHeld(s.level);
      // In use (a refused request is not: its slot lease may go back when idle).
      const l = this.slotsBook.peek(concKey(s.level));
      if (l) l.usedAt = now;
    }
  }

  /** A request ended: a slot of a small concurrency limit goes back at once (see LeaseBook.trim). */
  protected override freeSlots(levels: Level[]): void {
    super.freeSlots(levels);
    for (const l of levels) {
      this.syncHeld(l);
      this.slotsBook.trim(concKey(l));
    }
  }

  private syncHeld(level: Level): void {
    const l = this.slotsBook.peek(concKey(level));
    if (l) l.held = this.inflight.get(level.slot) ?? 0;
  }

  private slot(level: Level): Promise<boolean> {
    const scope: Scope = { kind: "conc", key: concKey(level), slots: level.limits.concurrency };
    this.syncHeld(level);
    return this.slotsBook.ensure(scope, 1);
  }

  /** Makes the local bucket hold `need` units for this and every promised request, as far as the shared one allows. */
  private async topUp(level: Level, dim: "r" | "t", need: number): Promise<void> {
    const id = level[dim];
    const b = this.bucket(level, dim, this.clock());
    const s = this.entry(id, b.perMinute);
    s.usedAt = this.clock();
    if (need === 0) return;
    s.demand += need;
    try {
      while (b.level < s.demand + s.promised) {
        const shared = s;
        const want = Math.max(s.demand + s.promised - b.level, Math.ceil(capacity(b.perMinute) / BATCH_DIVISOR));
        s.inflight ??= this.takeBatch(id, b.perMinute, want).finally(() => {
          shared.inflight = null;
        });
        if (!(await s.inflight)) return;
      }
    } finally {
      // Waiting no more: promised to this request until its admission (unpend).
      s.demand -= need;
      s.promised += need;
    }
  }

  private async takeBatch(id: string, perMinute: number, want: number): Promise<boolean> {
    const now = this.clock();
    const got = await this.pg.tx((q) => takeFromBucket(q, id, perMinute, want, now), { isolation: "read committed" });
    const b = this.buckets.get(id);
    if (b) b.level += got.taken;
    const s = this.shared.get(id);
    if (s) (s.left = got.left), (s.leftAt = now);
    return got.taken >= want;
  }

}

const concKey = (level: Level) => `conc:${level.slot}`;
