import { ApiError, errors } from "../../lib/errors";
import { RetainedCharges } from "../retained";
import { SettleHealth } from "../settle-health";
import { decrement } from "../../lib/tally";
import type { PgStore } from "../../store/pg-store";
import type { Q, Work } from "../../store/work";
import type { BudgetClock } from "../budget-clock";
import type { BudgetOwners, BudgetState } from "../budgets";
import type { Balance, CreditStore, HoldRequest, KeySpend, SettleExtras, SettleResult, Spendable, SpendOwners } from "../credit-store";
import { outOfCredit } from "../refusals";
import { budgetStateOf, limitNameOf, refusalOf, storedBudgetStates } from "./scope-refusals";
import { LeaseBook } from "./lease-book";
import { BalanceFence } from "./balance-fence";
import { heldByOthers, othersLeased, settledRequests } from "./lease-sql";
import { leaseWants } from "./lease-wants";
import { settleGroup, type PgSettleOp } from "./pg-settle";
import { ScopeRules } from "./scope-rules";
import type { Scope } from "./scopes";

export interface PgCreditStoreOptions {
  instanceId: string;
  holdTtlMs: number;
  budgetClock: BudgetClock;
  now?: () => number;
  /** Lease lifetime without renewal (default 30 s). */
  leaseTtlMs?: number;
}

interface PgHold extends SpendOwners {
  keyId: string | null;
  amount: number;
  scopes: Scope[];
  expiresAt: number;
  freshId: boolean;
  live: boolean;
}

type Queued = { op: PgSettleOp; hold: PgHold; resolve(v: SettleResult | null): void; reject(e: unknown): void };

/**
 * The credit store of several instances on one PostgreSQL database. Holds come from credit this
 * instance leases per scope (LeaseBook), in memory and synchronously, exactly as the SQLite store
 * holds against its balances; `prepare` leases what a request needs first. Settlements are
 * group-committed in one transaction per group (settleGroup) and resolve after COMMIT: durable,
 * and charged once per request id whichever instance settles it.
 */
export class PgCreditStore implements CreditStore {
  private readonly holds = new Map<string, PgHold>();
  private readonly settling = new Set<string>();
  /** Charges that failed to commit and are tried again (see retain). */
  private readonly retained = new RetainedCharges();
  private readonly health = new SettleHealth();
  /** Deferred requests whose hold waits here while any instance may settle them. */
  private readonly detached = new Set<string>();
  private queue: Queued[] = [];
  private committing: Promise<void> | null = null;
  private readonly listeners: ((accountId: string) => void)[] = [];
  readonly leases: LeaseBook;
  private readonly rules: ScopeRules;
  private readonly now: () => number;
  private readonly fence: BalanceFence;

  constructor(private readonly store: PgStore, private readonly o: PgCreditStoreOptions) {
    this.now = o.now ?? Date.now;
    const want = leaseWants(store, () => this.leases, o.instanceId);
    this.leases = new LeaseBook(store, { instanceId: o.instanceId, now: this.now, ttlMs: o.leaseTtlMs, want });
    this.rules = new ScopeRules(store, o.budgetClock, this.now);
    this.fence = new BalanceFence(store, this.leases, this.now);
  }

  get budgetClock(): BudgetClock {
    return this.o.budgetClock;
  }

  get openHolds(): number {
    return this.holds.size;
  }

  /** Leases what a hold of `amount` for these owners needs, in every scope it draws on. */
  async prepare(owners: SpendOwners, amount: number): Promise<() => void> {
    const [scopes] = await Promise.all([this.rules.scopes(owners), this.fence.pass()]);
    // ensure() promises the amount synchronously, before its first await: undo covers every scope.
    const ensured = Promise.all(scopes.map((s) => this.leases.ensure(s, amount)));
    let undone = false;
    const undo = () => {
      if (undone || amount === 0) return;
      undone = true;
      for (const s of scopes) this.leases.unpend(s.key, amount);
      // Once the admission decided (synchronously, right after): a scarce scope keeps nothing unused.
      queueMicrotask(() => scopes.forEach((s) => this.leases.trim(s.key)));
    };
    try {
      await ensured;
    } catch (e) {
      undo();
      throw e;
    }
    return undo;
  }

  spendable(owners: SpendOwners): Spendable {
    let best: Spendable = { amount: Number.POSITIVE_INFINITY, refuse: outOfCredit };
    for (const s of this.rules.known(owners)) {
      const free = this.leases.spare(this.leases.get(s));
      if (free < best.amount) best = { amount: free, limit: limitNameOf(this.leases, this.o.budgetClock, s), refuse: () => refusalOf(this.leases, this.o.budgetClock, s, owners.keyId) };
    }
    return best.amount === Number.POSITIVE_INFINITY ? { amount: 0, refuse: outOfCredit } : best;
  }

  /** As last read by this instance, less its own holds (other instances' holds are theirs to count). */
  balance(accountId: string): Balance {
    const l = this.leases.peek(`acc:${accountId}`);
    if (!l?.limit) return { balance: 0, held: 0, available: 0 };
    return { balance: l.limit.limit, held: l.held, available: l.limit.limit - l.held };
  }

  heldElsewhere(q: Q, accountId: string, now: number): Work<number> {
    return othersLeased(q, `acc:${accountId}`, this.o.instanceId, now);
  }

  heldByOthers(accountIds: readonly string[]): Promise<Map<string, number>> {
    const now = this.now();
    return this.store.read((q) => heldByOthers(q, accountIds, this.o.instanceId, now));
  }

  /** Charges are written before they are answered here: only the holds (the leases cover other instances). */
  unavailable(accountId: string): number {
    return this.balance(accountId).held;
  }

  keySpend(keyId: string): KeySpend | null {
    const l = this.leases.peek(`cap:${keyId}`);
    if (!l || l.scope.kind !== "cap") return null;
    return { spent: l.limit?.spent ?? 0, held: l.held, cap: l.scope.cap };
  }

  budgets(owners: BudgetOwners): BudgetState[] {
    return this.rules.knownBudgets(owners).map((s) => budgetStateOf(this.leases, s));
  }

  /** From the database in one read: this instance knows only the budgets it has leased. */
  readBudgets(owners: readonly BudgetOwners[]): Promise<Map<string, BudgetState>> {
    const now = this.now();
    return this.store.read((q) => storedBudgetStates(q, this.o.budgetClock, owners, this.leases, this.o.instanceId, now));
  }

  onCharge(listener: (accountId: string) => void): void {
    this.listeners.push(listener);
  }

  reserve(req: HoldRequest): void {
    const { requestId, amount } = req;
    if (!Number.isSafeInteger(amount) || amount < 0) throw new TypeError(`hold amount must be a non-negative integer: ${amount}`);
    if (this.holds.has(requestId) || this.settling.has(requestId)) throw errors.conflict(`Request ${requestId} already holds credit.`, "duplicate_request");
    const owners: SpendOwners = { accountId: req.accountId, capKeyId: req.capKeyId ?? req.keyId ?? null, memberId: req.memberId ?? null };
    const scopes = this.rules.known(owners);
    if (!req.restore) {
      for (const s of scopes) if (this.leases.spare(this.leases.get(s)) < amount) throw refusalOf(this.leases, this.o.budgetClock, s, req.keyId);
    }
    const now = this.now();
    for (const s of scopes) {
      const l = this.leases.get(s);
      l.held += amount;
      l.usedAt = now;
    }
    this.holds.set(requestId, {
      ...owners, keyId: req.keyId ?? null, amount, scopes, expiresAt: now + (req.ttlMs ?? this.o.holdTtlMs), freshId: req.freshId === true, live: req.live === true,
    });
  }

  settle(requestId: string, actual: number, extras?: SettleExtras): Promise<SettleResult | null> {
    const hold = this.holds.get(requestId) ?? this.orphan(requestId, extras);
    if (!hold) return Promise.resolve(null);
    if (!Number.isSafeInteger(actual)) throw new TypeError(`charge must be an integer: ${actual}`);
    return new Promise((resolve, reject) => this.enqueue(requestId, hold, "settle", Math.max(actual, 0), extras, resolve, reject));
  }

  failing(): boolean {
    return this.health.failing(this.retained.size);
  }

  admits(): boolean {
    return this.health.admits();
  }

  retain(requestId: string, again: () => Promise<unknown>): boolean {
    const h = this.holds.get(requestId);
    if (!h) return false;
    this.holds.set(requestId, { ...h, live: true });
    this.retained.add(requestId, again);
    return true;
  }

  /** Whether this instance holds credit for the request. */
  holding(requestId: string): boolean {
    return this.holds.has(requestId);
  }

  detach(requestId: string): void {
    const h = this.holds.get(requestId);
    if (!h) return;
    // Another instance may charge it now (an orphan settlement): its ledger decides, not this hold,
    // which stays (live: no sweep by age) until the request is settled, here or elsewhere.
    this.holds.set(requestId, { ...h, live: true, freshId: false });
    this.detached.add(requestId);
  }

  release(requestId: string, extras?: SettleExtras): Promise<boolean> {
    const hold = this.holds.get(requestId);
    if (!hold) return Promise.resolve(false);
    return new Promise((resolve, reject) => this.enqueue(requestId, hold, "release", 0, extras, () => resolve(true), reject));
  }

  /** Releases expired holds, and detached ones whose request another instance has settled. */
  async sweep(now = this.now()): Promise<number> {
    const settled = await this.settledElsewhere();
    const expired = [...this.holds].filter(([id, h]) => (h.expiresAt <= now && !h.live) || settled.has(id)).map(([id]) => id);
    const results = await Promise.allSettled(expired.map((id) => this.release(id)));
    return results.filter((r) => r.status === "fulfilled").length;
  }

  private async settledElsewhere(): Promise<Set<string>> {
    for (const id of this.detached) if (!this.holds.has(id)) this.detached.delete(id);
    if (this.detached.size === 0) return new Set();
    const ids = [...this.detached];
    return new Set(await this.store.read((q) => settledRequests(q, ids)));
  }

  /** Nothing to recover: a previous process's leases are deleted when its id is claimed again (or expire), and it kept no holds in the database. */
  recover(): number {
    return 0;
  }

  async flush(): Promise<void> {
    await this.retained.flush();
    while (this.queue.length > 0 || this.committing) await (this.committing ?? this.commit());
  }

  private enqueue(requestId: string, hold: PgHold, t: "settle" | "release", charge: number, extras: SettleExtras | undefined, resolve: Queued["resolve"], reject: Queued["reject"]): void {
    this.holds.delete(requestId);
    this.retained.delete(requestId);
    this.settling.add(requestId);
    // The lease shrinks here at once (never above what the database will hold after the commit),
    // and the hold leaves it: counted in both until the commit, it would refuse requests it covers.
    for (const s of hold.scopes) this.leases.drawn(s.key, hold.amount, Math.max(hold.amount, charge));
    const op: PgSettleOp = {
      t, requestId, accountId: hold.accountId, keyId: hold.keyId, capKeyId: hold.capKeyId, memberId: hold.memberId, amount: hold.amount,
      charge, freshId: hold.freshId, scopes: hold.scopes.map((s) => s.key), extras, at: this.now(),
    };
    this.queue.push({ op, hold, resolve, reject });
    if (!this.committing) this.committing = Promise.resolve().then(() => this.commit());
  }

  /** Commits everything queued as one transaction; what queues meanwhile goes in the next. */
  private async commit(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      try {
        const results = await this.store.tx((q) => settleGroup(q, group.map((g) => g.op), this.o.instanceId, this.o.budgetClock, (k) => this.leases.heldIn(k)), { isolation: "read committed" });
        group.forEach((g, i) => this.finish(g, results[i]!));
      } catch (e) {
        for (const g of group) this.fail(g, e);
      }
    }
    this.committing = null;
  }

  private finish(g: Queued, result: SettleResult): void {
    this.settling.delete(g.op.requestId);
    this.health.ok();
    for (const s of g.hold.scopes) {
      this.leases.committed(s.key, Math.max(g.hold.amount, g.op.charge));
      const l = this.leases.peek(s.key);
      if (l?.limit) l.limit = { ...l.limit, limit: l.limit.limit - result.charged, spent: l.limit.spent + result.charged };
    }
    // Listeners (low-balance alerts) read balance(), which only an account leased here has: a
    // charge without a hold here (a deferred result parked elsewhere) is seen at the next charge.
    const known = this.leases.peek(`acc:${g.hold.accountId}`)?.limit;
    if (g.op.t === "settle" && result.charged > 0 && known) for (const f of this.listeners) f(g.hold.accountId);
    g.resolve(result);
  }

  /** Nothing committed: the hold comes back (a retry or the sweeper resolves it), and so does its lease. */
  private fail(g: Queued, e: unknown): void {
    this.settling.delete(g.op.requestId);
    this.health.failed();
    for (const s of g.hold.scopes) this.leases.drawn(s.key, -g.hold.amount, -Math.max(g.hold.amount, g.op.charge));
    // The commit may have gone through before the error came back: a retry reads the ledger first.
    this.holds.set(g.op.requestId, { ...g.hold, live: false, freshId: false });
    g.reject(e instanceof ApiError ? e : errors.internal("Could not record the charge."));
  }

  /** A hold kept by another instance (or expired): charged from no lease, once per request id. */
  private orphan(requestId: string, extras?: SettleExtras): PgHold | undefined {
    const o = extras?.owners;
    if (!o || this.settling.has(requestId)) return undefined;
    return { ...o, amount: 0, scopes: [], expiresAt: 0, freshId: false, live: false };
  }
}
