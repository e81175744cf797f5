import type { Statement } from "bun:sqlite";
import { RetainedCharges } from "./retained";
import { SettleHealth } from "./settle-health";
import type { SqliteStore } from "../store/sqlite-store";
import { StampedMemo } from "../store/stamped-memo";
import { ApiError, errors } from "../lib/errors";
import type { Balance, CreditStore, HoldRequest, KeySpend, SettleExtras, SettleResult, Spendable, SpendOwners } from "./credit-store";
import type { SettleJournal, SettleRecord } from "./settle-journal";
import { SettleSink } from "./settle-sink";
import { SettleWriter, type Outcome, type Written } from "./settle-writer";
import { GroupCommit } from "./group-commit";
import { decrement } from "../lib/tally";
import { BudgetBook } from "./budget-book";
import { HoldRows, moveToNewKey, type Hold, type Queued } from "./hold-rows";
import { APPLY_MS, type KeyRow, type SqliteCreditStoreOptions } from "./sqlite-credit-options";
import { BudgetClock } from "./budget-clock";
import { KeyLines } from "./key-lines";
import { ruleOf, type BudgetOwners, type BudgetState } from "./budgets";
import { budgetExhausted, budgetLimit, outOfCredit, spendCap, spendCapReached } from "./refusals";

/**
 * Embedded implementation. Holds are authoritative in memory (JavaScript runs one callback at a time, so
 * check-and-hold is atomic) and persisted write-behind. Balances come from SQLite rows memoised until the
 * database changes (a top-up by the CLI in another process is seen at once). Settlements are group-committed:
 * every settle/release queued during one event-loop turn commits together, to the journal (then to SQLite
 * shortly after) or straight to SQLite, and the returned promise resolves only after that commit, so a
 * response is never completed before its charge is durable (survives kill -9). A hold's amount counts
 * against the account until its settlement has committed, and a journaled charge until it is in SQLite.
 */
export class SqliteCreditStore implements CreditStore {
  private holds = new Map<string, Hold>();
  /** Request ids whose settle/release is queued: busy until it commits (or fails and is restored). */
  private settling = new Set<string>();
  /** Charges that failed to commit and are tried again (see retain). */
  private readonly retained = new RetainedCharges();
  private readonly health = new SettleHealth();
  private heldByAccount = new Map<string, number>();
  private heldByKey = new Map<string, number>();
  private readonly group: GroupCommit<Queued, Outcome[]>;
  /** Rows in credit_holds of the holds open a while (what other processes see as held). */
  private readonly rows: HoldRows;
  private readonly now: () => number;
  private readonly holdTtlMs: number;
  private readonly journal: SettleJournal | undefined;
  /** Where commits go: the journal (then SQLite in batches) or SQLite at once. */
  private readonly sink: SettleSink;
  private readonly q: {
    account: Statement<{ balance_micros: number; status: string }, [string]>;
    key: Statement<KeyRow, [string]>;
    charged: Statement<{ one: number }, [string]>;
  };
  /** Budgets of key lines and members, and their spend per day. */
  private readonly book: BudgetBook;

  constructor(private readonly store: SqliteStore, opts: SqliteCreditStoreOptions) {
    this.now = opts.now ?? Date.now;
    this.holdTtlMs = opts.holdTtlMs;
    this.journal = opts.journal;
    const clock = opts.budgetClock ?? new BudgetClock();
    this.sink = new SettleSink(new SettleWriter(store, clock), {
      journal: opts.journal, applyMs: opts.applyMs ?? APPLY_MS, sliceSize: opts.applySlice, earlyBatch: opts.applyEarly, clock, onWritten: (w) => this.absorb(w),
    });
    this.book = new BudgetBook(store, clock, () => this.sink.unapplied, this.now);
    this.group = new GroupCommit({
      inFlight: () => this.holds.size,
      write: (queued) => this.sink.commit(queued.map((x) => x.op)),
      done: (queued, outcomes) => queued.forEach((x, i) => this.finish(x, outcomes[i]!)),
    });
    this.rows = new HoldRows({ now: this.now, addRow: (row) => this.sink.addHold(row), commit: this.group.commit });
    const s = store.sqlite;
    this.q = {
      account: s.query("SELECT balance_micros, status FROM accounts WHERE id = ?"),
      key: s.query("SELECT spent_micros, spend_cap_micros, budget_micros, budget_period FROM api_keys WHERE id = ?"),
      charged: s.query("SELECT 1 AS one FROM ledger_entries WHERE request_id = ?"),
    };
    this.accounts = new StampedMemo(store, (id) => this.q.account.get(id));
    this.keys = new StampedMemo(store, (id) => this.q.key.get(id));
    this.lines = new KeyLines(store);
    // Whatever else writes to the database (a top-up, an admin change) first writes the journaled
    // charges, so that its ledger entries come after the charges made before it.
    if (this.journal) store.setWriteBehind(this.catchUp, () => this.sink.unapplied.storesObjects);
  }

  /** Account and key rows, re-read only when the database changed (see StampedMemo). */
  private readonly accounts: StampedMemo<{ balance_micros: number; status: string } | null>;
  private readonly keys: StampedMemo<KeyRow | null>;
  private readonly lines: KeyLines;
  private readonly chargeListeners: ((accountId: string) => void)[] = [];

  get budgetClock(): BudgetClock {
    return this.book.clock;
  }

  get openHolds(): number {
    return this.holds.size;
  }

  balance(accountId: string): Balance {
    return this.balanceOf(accountId, this.accountRow(accountId));
  }

  unavailable(accountId: string): number {
    return (this.heldByAccount.get(accountId) ?? 0) + this.sink.unapplied.accountCharges(accountId);
  }

  keySpend(keyId: string): KeySpend | null {
    const row = this.keys.get(keyId);
    return row ? this.spendOf(keyId, row) : null;
  }

  budgets(q: BudgetOwners): BudgetState[] {
    return this.budgetsOf(q.capKeyId, q.capKeyId ? this.keys.get(q.capKeyId) : null, q.memberId);
  }

  private accountRow(accountId: string): { balance_micros: number; status: string } {
    const row = this.accounts.get(accountId);
    if (!row) throw errors.notFound("Account", "account_id");
    return row;
  }

  /** The row's balance less the journaled charges not yet in it, and what holds keep of it. */
  private balanceOf(accountId: string, row: { balance_micros: number }): Balance {
    const balance = row.balance_micros - this.sink.unapplied.accountCharges(accountId);
    const held = this.heldByAccount.get(accountId) ?? 0;
    return { balance, held, available: balance - held };
  }

  private spendOf(keyId: string, row: KeyRow): KeySpend {
    const spent = row.spent_micros + this.sink.unapplied.keyCharges(keyId);
    return { spent, held: this.heldByKey.get(keyId) ?? 0, cap: row.spend_cap_micros };
  }

  private budgetsOf(capKeyId: string | null, key: KeyRow | null, memberId: string | null): BudgetState[] {
    const keyHeld = capKeyId ? (this.heldByKey.get(capKeyId) ?? 0) : 0;
    return this.book.states({ capKeyId, keyRule: ruleOf(key?.budget_micros, key?.budget_period), keyHeld, memberId });
  }

  spendable(o: SpendOwners): Spendable {
    let best: Spendable = { amount: this.balance(o.accountId).available, refuse: outOfCredit };
    const key = o.capped === false || !o.capKeyId ? null : this.keySpend(o.capKeyId);
    if (key?.cap != null) {
      const left = key.cap - key.spent - key.held;
      if (left < best.amount) best = { amount: left, limit: spendCap, refuse: () => spendCapReached(o.keyId ?? o.capKeyId!, key.cap!, key.spent) };
    }
    for (const b of o.budgeted === false ? [] : this.budgets(o)) {
      if (b.remaining < best.amount) best = { amount: b.remaining, limit: () => budgetLimit(b, this.book.clock), refuse: () => budgetExhausted(b, this.book.clock) };
    }
    return best;
  }

  onCharge(listener: (accountId: string) => void): void {
    this.chargeListeners.push(listener);
  }

  reserve(req: HoldRequest): void {
    const { accountId, keyId = null, requestId, amount } = req;
    if (!Number.isSafeInteger(amount) || amount < 0) throw new TypeError(`hold amount must be a non-negative integer: ${amount}`);
    if (this.holds.has(requestId) || this.settling.has(requestId)) {
      throw errors.conflict(`Request ${requestId} already holds credit.`, "duplicate_request");
    }
    // A hold restored at start may name a key rotated since: its line's newest carries the spend.
    const capKey = req.restore && keyId ? this.lines.newest(req.capKeyId ?? keyId) : (req.capKeyId ?? keyId);
    const memberId = req.memberId ?? null;
    if (!req.restore) this.check(accountId, keyId, capKey, memberId, amount);
    const now = this.now();
    const hold: Hold = { accountId, keyId, capKeyId: capKey, memberId, amount, expiresAt: now + (req.ttlMs ?? this.holdTtlMs), createdAt: now };
    if (req.freshId) hold.freshId = true;
    if (req.live) hold.live = true;
    this.holds.set(requestId, hold);
    this.heldByAccount.set(accountId, (this.heldByAccount.get(accountId) ?? 0) + amount);
    if (capKey) this.heldByKey.set(capKey, (this.heldByKey.get(capKey) ?? 0) + amount);
    this.book.hold(memberId, amount);
    this.rows.add(requestId, hold);
  }

  /**
   * Refuses a hold the account's status, its available credit, the key's cap or a budget (the key
   * line's, the member's) does not allow, naming the one that binds most. Holds in flight count.
   */
  private check(accountId: string, keyId: string | null, capKeyId: string | null, memberId: string | null, amount: number): void {
    // Authentication checks this too; this closes the window of a suspension landing mid-request.
    if (this.accountRow(accountId).status !== "active") throw errors.invalidKey("This account is suspended. Contact the operator.");
    const s = this.spendable({ accountId, keyId, capKeyId, memberId });
    if (s.amount < amount) throw s.refuse();
  }

  failing(): boolean {
    return this.health.failing(this.retained.size, this.sink.behind);
  }

  admits(): boolean {
    return this.health.admits();
  }

  retain(requestId: string, again: () => Promise<unknown>): boolean {
    const hold = this.holds.get(requestId);
    if (!hold) return false;
    hold.live = true;
    this.retained.add(requestId, again);
    return true;
  }

  keyRotated(oldKeyId: string, newKeyId: string): void {
    moveToNewKey(oldKeyId, newKeyId, { holds: this.holds.values(), queued: this.group.queued, heldByKey: this.heldByKey });
  }

  settle(requestId: string, actual: number, extras?: SettleExtras): Promise<SettleResult | null> {
    const hold = this.holds.get(requestId);
    if (!hold) return Promise.resolve(null);
    if (!Number.isSafeInteger(actual)) throw new TypeError(`charge must be an integer: ${actual}`);
    // All of it, beyond the hold too: the upstream did the work (reasoning past max_tokens, tools).
    let charge = Math.max(actual, 0);
    // One charge per request id, ever. SQLite's unique index enforces it on a direct write; a
    // journaled settlement is answered before SQLite sees it, so it asks first.
    if (charge > 0 && this.journal && !hold.freshId && (this.sink.unapplied.hasCharged(requestId) || this.q.charged.get(requestId))) charge = 0;
    return new Promise((resolve, reject) => this.enqueue(requestId, hold, "settle", charge, extras, resolve, reject));
  }

  release(requestId: string, extras?: SettleExtras): Promise<boolean> {
    const hold = this.holds.get(requestId);
    if (!hold) return Promise.resolve(false);
    return new Promise((resolve, reject) => this.enqueue(requestId, hold, "release", 0, extras, () => resolve(true), reject));
  }

  async sweep(now = this.now()): Promise<number> {
    const expired = [...this.holds].filter(([, h]) => h.expiresAt <= now && !h.live).map(([id]) => id);
    // Never rejects (it runs from a timer): a release that failed to commit is restored and retried next time.
    const results = await Promise.allSettled(expired.map((id) => this.release(id)));
    return results.filter((r) => r.status === "fulfilled").length;
  }

  /**
   * Called once at start: applies what the journal still holds (settlements of a process that
   * died before writing them to SQLite), then releases every hold persisted by that process.
   */
  recover(): number {
    const replayed = this.sink.recover();
    if (replayed > 0) console.error(`applied ${replayed} journaled settlement(s) left by the previous process`);
    return this.store.write(() => this.store.sqlite.query("DELETE FROM credit_holds").run().changes);
  }

  /** Writes every journaled settlement to SQLite now (the store's write-behind). */
  readonly catchUp = (): void => this.sink.applyAll();

  async flush(): Promise<void> {
    await this.retained.flush();
    this.rows.persist(Number.POSITIVE_INFINITY);
    this.sink.applyAll();
  }

  private enqueue(
    requestId: string, hold: Hold, t: "settle" | "release", charge: number, extras: SettleExtras | undefined,
    resolve: Queued["resolve"], reject: Queued["reject"],
  ): void {
    this.holds.delete(requestId);
    this.retained.delete(requestId);
    this.settling.add(requestId);
    const persisted = this.rows.settle(requestId);
    const op: SettleRecord = { t, requestId, accountId: hold.accountId, keyId: hold.keyId, amount: hold.amount, charge, persisted, extras, at: this.now() };
    const line = hold.capKeyId && this.lines.newest(hold.capKeyId);
    if (line !== hold.keyId) op.capKeyId = line;
    if (hold.memberId) op.memberId = hold.memberId;
    // Appended to the journal, or written to SQLite with the held rows, together with its turn's others.
    this.group.push({ op, hold, resolve, reject });
  }

  /** After a SQLite commit: memoised balances and key spends follow it. */
  private absorb({ balances, keySpend, budgetSpend }: Written): void {
    this.book.absorb(budgetSpend);
    for (const [id, balance] of balances) {
      const row = this.accounts.peek(id);
      if (row) row.balance_micros = balance;
    }
    for (const [id, spent] of keySpend) {
      const row = this.keys.peek(id);
      if (row) row.spent_micros += spent;
    }
  }

  private finish(x: Queued, outcome: Outcome): void {
    this.settling.delete(x.op.requestId);
    if (!outcome.ok) {
      // Nothing committed for it: put the hold back so that a retry or the sweeper resolves it.
      x.hold.live = false;
      this.health.failed();
      this.holds.set(x.op.requestId, x.hold);
      if (!x.op.persisted) this.rows.add(x.op.requestId, x.hold);
      x.reject(outcome.error instanceof ApiError ? outcome.error : errors.internal("Could not record the charge."));
      return;
    }
    this.health.ok();
    decrement(this.heldByAccount, x.hold.accountId, x.hold.amount);
    if (x.hold.capKeyId) decrement(this.heldByKey, x.hold.capKeyId, x.hold.amount);
    this.book.unhold(x.hold.memberId, x.hold.amount);
    if (x.op.t === "settle" && outcome.value && outcome.value.charged > 0) {
      for (const listener of this.chargeListeners) listener(x.hold.accountId);
    }
    x.resolve(outcome.value);
  }
}
