import type { Store } from "../../store/store";
import { acquireLease, renewLeases, shrinkLease, type LeaseAsk } from "./lease-sql";
import { askable, newLease, type Lease } from "./lease";
import { scopeBound, scopeLimit, type Scope } from "./scopes";

export type { Lease } from "./lease";

export interface LeaseBookOptions {
  instanceId: string;
  now: () => number;
  /** How long a lease lives without renewal (default 30 s); a dead instance's credit returns after it. */
  ttlMs?: number;
  /** Unused lease given back after this long without a request (default 10 s). */
  idleMs?: number;
  /**
   * Asks the other instances for what they lease of a scope and do not use (PgCreditStore: a
   * notification, which they answer with `wanted`). Without it a lease short of credit does not wait.
   */
  want?: (scopeKey: string) => void;
}

/**
 * The credit this instance leases from PostgreSQL, per scope. Holds are taken from leases in
 * memory, synchronously (no await between the check and the hold); `ensure` tops a lease up
 * first (one transaction for every request waiting on the scope). A lease not renewed for
 * almost its TTL is not used: another instance may take the credit once it expires.
 */
export class LeaseBook {
  private readonly leases = new Map<string, Lease>();
  readonly ttlMs: number;
  private readonly idleMs: number;

  constructor(private readonly store: Store, private readonly o: LeaseBookOptions) {
    this.ttlMs = o.ttlMs ?? 30_000;
    this.idleMs = o.idleMs ?? 10_000;
  }

  get(scope: Scope): Lease {
    let l = this.leases.get(scope.key);
    if (!l) {
      l = newLease(scope);
      this.leases.set(scope.key, l);
      return l;
    }
    // An edited cap, budget or slot count: what is leased may be above it now, so it is checked first.
    if (scopeBound(l.scope) !== scopeBound(scope)) l.asked++;
    l.scope = scope;
    return l;
  }

  /** The scope's limit may have fallen below the lease (a refund): checked before the next hold. */
  recheck(key: string): void {
    const l = this.leases.get(key);
    if (l) l.asked++;
  }

  /** The scopes (of this kind) where this instance leases more than its requests hold. */
  unused(prefix: string): string[] {
    return [...this.leases].filter(([k, l]) => k.startsWith(prefix) && l.leased > l.held).map(([k]) => k);
  }

  peek(key: string): Lease | undefined {
    return this.leases.get(key);
  }

  /** What requests may still hold of the lease now (0 when it is too old to trust). */
  free(l: Lease): number {
    if (l.asked !== l.checked) return 0;
    if (this.o.now() - l.renewedAt > this.ttlMs - Math.min(SAFETY_MS, this.ttlMs / 4)) return 0;
    return l.leased - l.held;
  }

  /**
   * Leases enough of the scope for `amount` and for every other request promised some of it (as
   * far as the database allows); false when the database had less: the holds then decide who gets
   * what there is. The amount stays promised (`promised`) until `unpend`, which the admission calls
   * right before it holds: another request cannot take it in between. Only a hold counts as use
   * (`usedAt`): refused requests must not keep an unused lease from its idle give-back.
   */
  async ensure(scope: Scope, amount: number): Promise<boolean> {
    const l = this.get(scope);
    // Nothing to lease: only the scope's limit is read again (what refuseBroke and the pages look at).
    if (amount === 0) {
      l.usedAt = this.o.now();
      return await (l.inflight ??= this.serial(l, () => this.readLimit(l)).finally(() => (l.inflight = null)));
    }
    l.demand += amount;
    try {
      for (let waited = 0, pause = WANT_FIRST_MS; this.free(l) < l.demand + l.promised; ) {
        l.inflight ??= this.serial(l, () => this.acquireNow(l)).finally(() => {
          l.inflight = null;
        });
        if (await l.inflight) continue;
        // Short while others lease it unused: it was asked back (acquireNow) and comes within milliseconds.
        if (!this.waits(l, waited)) return this.free(l) >= l.demand + l.promised;
        await Bun.sleep(pause);
        waited += pause;
        pause = Math.min(pause * 2, WANT_WAIT_MS - waited);
      }
      return true;
    } finally {
      l.demand -= amount;
      l.promised += amount;
    }
  }

  /** A lease short of its requests' need waits while others report it unused, and once after asking for slots (see askable). */
  private waits(l: Lease, waited: number): boolean {
    if (!this.o.want || waited >= WANT_WAIT_MS) return false;
    return l.idle > 0 || (waited === 0 && l.scope.kind === "conc" && performance.now() - l.askedAt < WANT_EVERY_MS);
  }

  /** Gives back what `ensure` promised a request (it is about to hold, or was refused). */
  unpend(key: string, amount: number): void {
    const l = this.leases.get(key);
    if (l) l.promised -= amount;
  }

  /** What a request may hold now: the free lease less what is promised to requests still preparing. */
  spare(l: Lease): number {
    return this.free(l) - l.promised;
  }

  /**
   * A settlement's hold leaves the lease and draws `spent` (the larger of its hold and its charge)
   * from it; negative amounts undo that when the settlement did not commit. Not clamped at zero:
   * the database clamps when it commits, and a lease granted meanwhile must not be counted here
   * above what the database holds (local ≤ database, always).
   */
  drawn(key: string, hold: number, spent: number): void {
    const l = this.leases.get(key);
    if (!l) return;
    l.held -= hold;
    l.leased -= spent;
    l.pending += spent;
    // A request ended: a scarce scope's credit goes where the next request is, maybe elsewhere.
    if (spent > 0) this.trim(key);
  }

  /**
   * When the scope is scarce (its last lease was exact: the last of a balance, cap or budget, a
   * small concurrency limit's slots), gives back at once what the lease holds beyond its
   * requests' holds, promises and waits: after each admission decision and each request's end.
   * Scopes are leased one by one, so one instance may lease a cap and another a budget, each
   * refusing what the other lacks, and a busy instance never idles: what it does not use must
   * follow the demand. Sliced leases stay (they leave 7/8 to the others; idle ones return after
   * `idleMs`, or at once when another instance finds the scope scarce: `wanted`). Not awaited: the
   * database is lowered in the background, after the local lease.
   */
  trim(key: string): void {
    const l = this.leases.get(key);
    if (!l || l.trimming || !l.exact || l.leased <= l.held + l.demand + l.promised) return;
    l.trimming = true;
    this.shrink(l).catch(() => {
      // Kept in `resync`: maintain tries again (the local lease is already down: the safe side).
    });
  }

  /**
   * An instance (`from`) found the scope scarce while others lease it unused: this one gives back
   * at once what its requests do not need, and treats the lease as scarce (given back after each
   * decision and end) until its next acquisition judges it again. An idle slice would otherwise
   * keep the last of a balance from the instance its requests reach, for `idleMs`.
   */
  wanted(key: string, from: string): void {
    if (from !== this.o.instanceId) this.giveBack(key);
    // A budget's other periods (ended, or of a rule since changed) count against this one: only their holds stay.
    if (!key.startsWith("bud:")) return;
    const owner = key.slice(0, key.lastIndexOf(":") + 1);
    for (const k of this.leases.keys()) if (k !== key && k.startsWith(owner)) this.giveBack(k);
  }

  private giveBack(key: string): void {
    const l = this.leases.get(key);
    if (!l || (l.leased === 0 && l.pending === 0 && !l.resync)) return;
    l.exact = true;
    if (l.trimming) return;
    l.trimming = true;
    // Even with nothing to give, what its requests hold is reported: the asking instance then knows.
    this.shrink(l, true).catch(() => {
      // Kept in `resync`, as trim's.
    });
  }

  /** A settlement drawn here committed: the database lease is down by `spent` too. */
  committed(key: string, spent: number): void {
    const l = this.leases.get(key);
    if (l) l.pending -= spent;
  }

  /** Renews the leases it holds, drops the ones that expired, gives back idle ones. Runs from a timer. */
  async maintain(): Promise<void> {
    const now = this.o.now();
    const held = new Map([...this.leases].filter(([, l]) => l.leased > 0 || l.held > 0).map(([k, l]) => [k, l.held]));
    const renewed = await this.store.tx((q) => renewLeases(q, this.o.instanceId, held, now, this.ttlMs), { isolation: "read committed" });
    for (const [key, l] of this.leases) {
      // A lease first taken while this ran was not up for renewal: it is fresh, leave it be.
      // One up for renewal but expired is gone from the database: nothing more is held from it, and
      // the next lease is a new one, which covers the holds still in flight first (acquire).
      if (renewed.has(key)) l.renewedAt = Math.max(l.renewedAt, now);
      else if (held.has(key) && l.renewedAt < now) l.leased = Math.min(l.leased, l.held);
      // A budget's ended period takes no new holds: what its holds do not need goes back at once.
      const ended = l.scope.kind === "bud" && l.scope.resetsAt <= now;
      if (l.resync || ((ended || l.usedAt < now - this.idleMs) && l.leased > l.held + l.demand + l.promised)) await this.shrink(l);
      const unused = l.leased === 0 && l.held === 0 && l.demand === 0 && l.promised === 0 && l.pending === 0 && l.changing === 0;
      if (unused && l.usedAt < now - this.idleMs) this.leases.delete(key);
    }
  }

  /** Gives back everything not held (at shutdown: the other instances may use it at once), give-backs under way included. */
  async releaseAll(): Promise<void> {
    for (const l of this.leases.values()) if (l.leased > l.held || l.changing > 0) await this.shrink(l);
  }

  /** Every lease's held amount, for reports (what this instance's requests hold per scope). */
  heldIn(key: string): number {
    return this.leases.get(key)?.held ?? 0;
  }

  /** What this instance's requests hold in the scopes whose key starts so (a budget's periods). */
  heldUnder(prefix: string): number {
    let held = 0;
    for (const [k, l] of this.leases) if (k.startsWith(prefix)) held += l.held;
    return held;
  }

  /** Runs the lease's database changes one after the other, each reading the lease when it starts. */
  private serial<T>(l: Lease, change: () => Promise<T>): Promise<T> {
    l.changing++;
    const run = l.tail.then(change).finally(() => l.changing--);
    l.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Gives back what the lease's requests do not need; `report`: writes what they hold even when that is nothing. */
  private shrink(l: Lease, report = false): Promise<void> {
    return this.serial(l, async () => {
      l.trimming = false;
      const keep = Math.min(l.leased, l.held + l.demand + l.promised);
      const give = l.leased - keep;
      if (give === 0 && !l.resync && !report) return;
      // Lower the local lease first: a hold taken meanwhile must fit in what stays leased. The
      // database keeps the draws not committed yet too: their commit takes them off there. With
      // none, and nothing kept, the row goes (and with it what a failed give-back left there).
      l.leased = keep;
      const to = keep + l.pending;
      const by = l.resync || to <= 0 ? { to } : { give };
      l.resync = true;
      await this.store.tx((q) => shrinkLease(q, l.scope.key, this.o.instanceId, by, l.held), { isolation: "read committed" });
      l.resync = false;
    });
  }

  /** A read writes nothing (no lease row per look at a balance); a limit fallen below the lease is the next acquisition's to check. */
  private async readLimit(l: Lease): Promise<boolean> {
    l.limit = await this.store.read((q) => scopeLimit(q, l.scope, this.o.now()));
    return true;
  }

  private async acquireNow(l: Lease): Promise<boolean> {
    const now = this.o.now();
    const asked = l.asked;
    const need = l.demand + l.promised;
    const keep = l.held + l.pending;
    const ask: LeaseAsk = { want: Math.max(1, need - (l.leased - l.held)), keep, afresh: keep + need };
    const got = await this.store.tx((q) => acquireLease(q, l.scope, this.o.instanceId, ask, now, this.ttlMs), { isolation: "read committed" });
    // An expired lease is gone: the new one is all there is, less the draws still to commit on it.
    // Otherwise by the change, not the total: a settlement drawn here but not yet committed there must stay drawn.
    l.leased = got.fresh ? got.leased - l.pending : l.leased + got.granted;
    l.renewedAt = now;
    l.limit = got.limit;
    l.checked = asked;
    [l.exact, l.idle] = [got.exact, got.idle];
    // Scarce here while others lease it unused: asked back before this instance refuses what they do not need
    // (its own leases of a budget's other periods at once, the others' by a signal).
    if (got.exact && askable(l.scope, got) > 0 && this.o.want && performance.now() - l.askedAt >= WANT_EVERY_MS) {
      l.askedAt = performance.now();
      this.wanted(l.scope.key, this.o.instanceId);
      this.o.want(l.scope.key);
    }
    return this.free(l) >= need;
  }
}

/** After a lease asked back (want), tries again after this long, then twice as long, ... */
const WANT_FIRST_MS = 10;
/** ... for this long at most before the request is refused (the others answer within milliseconds). */
const WANT_WAIT_MS = 300;
/** A scope is asked back at most this often: an instance asked treats its lease as scarce from then on anyway. */
const WANT_EVERY_MS = 50;

/** A lease stops being used this long (at most a quarter of its TTL) before it would expire unrenewed. */
const SAFETY_MS = 5_000;
