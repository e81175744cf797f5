import type { Statement } from "bun:sqlite";
import { absorbedWrite, write, type Db } from "../../db/client";
import { StampedMemo } from "../../db/stamped-memo";
import { ApiError, errors } from "../../lib/errors";
import { insertUsage } from "../usage/record";
import type { Balance, CreditStore, HoldRequest, KeySpend, SettleExtras, SettleResult } from "./credit-store";

interface Hold {
  accountId: string;
  keyId: string | null;
  amount: number;
  expiresAt: number;
  createdAt: number;
}

type Op =
  | { t: "hold"; requestId: string; hold: Hold }
  | { t: "settle"; requestId: string; hold: Hold; persisted: boolean; charge: number; extras?: SettleExtras; done: Settle<SettleResult | null> }
  | { t: "release"; requestId: string; hold: Hold; persisted: boolean; extras?: SettleExtras; done: Settle<boolean> };

interface Settle<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
}

/**
 * Embedded implementation. Holds are authoritative in memory (JavaScript runs one callback at a
 * time, so check-and-hold is atomic) and persisted write-behind; balances are read from SQLite on
 * every reservation, so top-ups made by the CLI in another process are seen at once. Settlements
 * are group-committed: every settle/release queued during one event-loop turn commits in a single
 * write transaction, and the returned promise resolves only after that commit, so a response is
 * never completed before its charge is durable (WAL, synchronous=NORMAL: survives kill -9).
 * A hold's amount keeps counting against the account until its settlement has committed.
 */
export class SqliteCreditStore implements CreditStore {
  private holds = new Map<string, Hold>();
  /** Request ids whose settle/release is queued: busy until it commits (or fails and is restored). */
  private settling = new Set<string>();
  private heldByAccount = new Map<string, number>();
  private heldByKey = new Map<string, number>();
  private queue: Op[] = [];
  private scheduled = false;
  private holdTimer: ReturnType<typeof setTimeout> | null = null;
  private lastCommitAt = 0;
  /** Open holds not yet handed to a commit (see persistHolds). */
  private unpersisted = new Map<string, Hold>();
  private readonly now: () => number;
  private readonly holdTtlMs: number;
  private readonly q: {
    account: Statement<{ balance_micros: number; status: string }, [string]>;
    key: Statement<{ spent_micros: number; spend_cap_micros: number | null }, [string]>;
    insertHold: Statement;
    deleteHold: Statement;
    balanceOf: Statement<{ balance_micros: number }, [string]>;
    insertCharge: Statement;
    debit: Statement;
    keySpend: Statement;
  };

  constructor(private readonly db: Db, opts: { holdTtlMs: number; now?: () => number }) {
    this.now = opts.now ?? Date.now;
    this.holdTtlMs = opts.holdTtlMs;
    const s = db.$client;
    this.q = {
      account: s.query("SELECT balance_micros, status FROM accounts WHERE id = ?"),
      key: s.query("SELECT spent_micros, spend_cap_micros FROM api_keys WHERE id = ?"),
      insertHold: s.query(
        "INSERT INTO credit_holds (request_id, account_id, key_id, amount_micros, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
      ),
      deleteHold: s.query("DELETE FROM credit_holds WHERE request_id = ?"),
      balanceOf: s.query("SELECT balance_micros FROM accounts WHERE id = ?"),
      insertCharge: s.query(
        "INSERT INTO ledger_entries (account_id, kind, amount_micros, balance_after_micros, request_id, key_id, note, created_at) VALUES (?, 'charge', ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
      ),
      debit: s.query("UPDATE accounts SET balance_micros = balance_micros - ? WHERE id = ?"),
      keySpend: s.query("UPDATE api_keys SET spent_micros = spent_micros + ? WHERE id = ?"),
    };
    this.accounts = new StampedMemo(db, (id) => this.q.account.get(id));
    this.keys = new StampedMemo(db, (id) => this.q.key.get(id));
  }

  /** Account and key rows, re-read only when the database changed (see StampedMemo). */
  private readonly accounts: StampedMemo<{ balance_micros: number; status: string } | null>;
  private readonly keys: StampedMemo<{ spent_micros: number; spend_cap_micros: number | null } | null>;
  private readonly chargeListeners: ((accountId: string) => void)[] = [];

  get openHolds(): number {
    return this.holds.size;
  }

  balance(accountId: string): Balance {
    const row = this.accounts.get(accountId);
    if (!row) throw errors.notFound("Account", "account_id");
    const held = this.heldByAccount.get(accountId) ?? 0;
    return { balance: row.balance_micros, held, available: row.balance_micros - held };
  }

  keySpend(keyId: string): KeySpend | null {
    const row = this.keys.get(keyId);
    if (!row) return null;
    return { spent: row.spent_micros, held: this.heldByKey.get(keyId) ?? 0, cap: row.spend_cap_micros };
  }

  onCharge(listener: (accountId: string) => void): void {
    this.chargeListeners.push(listener);
  }

  reserve({ accountId, keyId = null, requestId, amount, ttlMs }: HoldRequest): void {
    if (!Number.isSafeInteger(amount) || amount < 0) throw new TypeError(`hold amount must be a non-negative integer: ${amount}`);
    if (this.holds.has(requestId) || this.settling.has(requestId)) {
      throw errors.conflict(`Request ${requestId} already holds credit.`, "duplicate_request");
    }
    const row = this.accounts.get(accountId);
    if (!row) throw errors.notFound("Account", "account_id");
    // Authentication checks this too; this closes the window of a suspension landing mid-request.
    if (row.status !== "active") throw errors.invalidKey("This account is suspended. Contact the operator.");
    const held = this.heldByAccount.get(accountId) ?? 0;
    if (row.balance_micros - held < amount) {
      throw errors.insufficientQuota(
        "You have run out of credits: this request needs more than your available balance. Add credits to continue.",
      );
    }
    if (keyId) {
      const key = this.keys.get(keyId);
      const keyHeld = this.heldByKey.get(keyId) ?? 0;
      if (key?.spend_cap_micros != null && key.spent_micros + keyHeld + amount > key.spend_cap_micros) {
        throw errors.insufficientQuota("This API key has reached its spending cap. Raise the cap or use another key.");
      }
      this.heldByKey.set(keyId, keyHeld + amount);
    }
    const now = this.now();
    const hold: Hold = { accountId, keyId, amount, expiresAt: now + (ttlMs ?? this.holdTtlMs), createdAt: now };
    this.holds.set(requestId, hold);
    this.heldByAccount.set(accountId, held + amount);
    this.unpersisted.set(requestId, hold);
    this.holdTimer ??= setTimeout(this.persistHolds, HOLD_PERSIST_MS);
  }

  settle(requestId: string, actual: number, extras?: SettleExtras): Promise<SettleResult | null> {
    const hold = this.holds.get(requestId);
    if (!hold) return Promise.resolve(null);
    if (!Number.isSafeInteger(actual)) throw new TypeError(`charge must be an integer: ${actual}`);
    this.holds.delete(requestId);
    this.settling.add(requestId);
    const charge = Math.min(Math.max(actual, 0), hold.amount);
    const persisted = !this.unpersisted.delete(requestId);
    return new Promise((resolve, reject) =>
      this.enqueue({ t: "settle", requestId, hold, persisted, charge, extras, done: { resolve, reject } }),
    );
  }

  release(requestId: string, extras?: SettleExtras): Promise<boolean> {
    const hold = this.holds.get(requestId);
    if (!hold) return Promise.resolve(false);
    this.holds.delete(requestId);
    this.settling.add(requestId);
    const persisted = !this.unpersisted.delete(requestId);
    return new Promise((resolve, reject) => this.enqueue({ t: "release", requestId, hold, persisted, extras, done: { resolve, reject } }));
  }

  async sweep(now = this.now()): Promise<number> {
    const expired = [...this.holds].filter(([, h]) => h.expiresAt <= now).map(([id]) => id);
    // Never rejects (it runs from a timer): a release that failed to commit is restored and retried next time.
    const results = await Promise.allSettled(expired.map((id) => this.release(id)));
    return results.filter((r) => r.status === "fulfilled").length;
  }

  recover(): number {
    return write(this.db, () => this.db.$client.query("DELETE FROM credit_holds").run().changes);
  }

  async flush(): Promise<void> {
    this.persistHolds();
  }

  /**
   * A hold's row only tells other processes (the CLI) what is held, and recovery deletes them all:
   * it is written once the hold has been open for HOLD_PERSIST_MS (or at flush), so a request
   * shorter than that never writes one. The money check itself is always in memory.
   */
  private readonly persistHolds = (): void => {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    for (const [requestId, hold] of this.unpersisted) this.queue.push({ t: "hold", requestId, hold });
    this.unpersisted.clear();
    this.commit();
  };

  /** Settlements commit together on the next event-loop turn (see commitWhenGathered). */
  private enqueue(op: Op): void {
    this.queue.push(op);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.commitWhenGathered);
    }
  }

  /**
   * Under load (many requests in flight) more settlements are on their way: they are gathered for
   * up to COMMIT_GATHER_MS after the previous commit, since one transaction costs as much as
   * several rows. Under light load a settlement commits at once: nothing waits for nothing.
   */
  private readonly commitWhenGathered = (): void => {
    const since = performance.now() - this.lastCommitAt;
    if (this.holds.size >= GATHER_IN_FLIGHT && this.queue.length < MAX_GATHERED && since < COMMIT_GATHER_MS) {
      // A timer, not another setImmediate: the loop sleeps in epoll instead of spinning meanwhile.
      setTimeout(this.commit, Math.max(0, COMMIT_GATHER_MS - since));
      return;
    }
    this.commit();
  };

  /**
   * Commits every queued operation in one write transaction. If that fails for a reason tied to
   * one operation (a constraint, a bad value), each is retried alone so that one bad settlement
   * does not fail everybody else's; a database-wide failure (busy, I/O) fails the whole batch.
   */
  private readonly commit = (): void => {
    this.scheduled = false;
    const ops = this.queue;
    if (ops.length === 0) return;
    this.queue = [];
    let outcomes: Outcome[];
    try {
      // Absorbed: the memoised balances and key spends are updated from the batch below instead of
      // being re-read, and unrelated memos (key authentication) are not invalidated by charges.
      const batch = absorbedWrite(this.db, () => write(this.db, () => this.applyAll(ops)));
      for (const [id, a] of batch.accounts) {
        const row = this.accounts.peek(id);
        if (row) row.balance_micros = a.balance;
      }
      for (const [id, spent] of batch.keys) {
        const row = this.keys.peek(id);
        if (row) row.spent_micros += spent;
      }
      outcomes = batch.values.map((value): Outcome => ({ ok: true, value }));
    } catch (e) {
      console.error("credit store commit failed:", e);
      outcomes =
        ops.length > 1 && !isDatabaseWide(e)
          ? ops.map((op): Outcome => {
              try {
                return { ok: true, value: write(this.db, () => this.applyAll([op]).values[0]!) };
              } catch (error) {
                return { ok: false, error };
              }
            })
          : ops.map(() => ({ ok: false, error: e }));
    }
    this.lastCommitAt = performance.now();
    ops.forEach((op, i) => this.finish(op, outcomes[i]!));
  }

  private finish(op: Op, outcome: Outcome): void {
    // A hold that failed to persist stays authoritative in memory; only recovery data is missing.
    if (op.t === "hold") return;
    this.settling.delete(op.requestId);
    if (!outcome.ok) {
      // Nothing committed for it: put the hold back so that a retry or the sweeper resolves it.
      this.holds.set(op.requestId, op.hold);
      if (!op.persisted) {
        this.unpersisted.set(op.requestId, op.hold);
        this.holdTimer ??= setTimeout(this.persistHolds, HOLD_PERSIST_MS);
      }
      op.done.reject(outcome.error instanceof ApiError ? outcome.error : errors.internal("Could not record the charge."));
      return;
    }
    this.unhold(op.hold);
    if (op.t === "settle" && outcome.value && outcome.value.charged > 0) {
      for (const listener of this.chargeListeners) listener(op.hold.accountId);
    }
    if (op.t === "settle") op.done.resolve(outcome.value);
    else op.done.resolve(true);
  }

  /**
   * Writes a batch inside the caller's transaction. Ledger entries and usage rows are written per
   * operation; each account's balance is read once and debited once per batch (and each key's
   * spend updated once), with every entry's balance_after computed as if charged one by one.
   */
  private applyAll(ops: Op[]): { values: (SettleResult | null)[]; accounts: Map<string, { balance: number; debit: number }>; keys: Map<string, number> } {
    const accounts = new Map<string, { balance: number; debit: number }>();
    const keys = new Map<string, number>();
    const values = ops.map((op) => this.apply(op, accounts, keys));
    for (const [id, a] of accounts) if (a.debit > 0) this.q.debit.run(a.debit, id);
    for (const [id, spent] of keys) this.q.keySpend.run(spent, id);
    return { values, accounts, keys };
  }

  private apply(op: Op, accounts: Map<string, { balance: number; debit: number }>, keys: Map<string, number>): SettleResult | null {
    if (op.t === "hold") {
      const h = op.hold;
      this.q.insertHold.run(op.requestId, h.accountId, h.keyId, h.amount, h.expiresAt, h.createdAt);
      return null;
    }
    if (op.persisted) this.q.deleteHold.run(op.requestId);
    if (op.extras?.usage) insertUsage(this.db, op.extras.usage);
    if (op.t === "release") return null;
    const { hold, charge } = op;
    let charged = 0;
    if (charge > 0) {
      let acc = accounts.get(hold.accountId);
      if (!acc) {
        acc = { balance: this.q.balanceOf.get(hold.accountId)!.balance_micros, debit: 0 };
        accounts.set(hold.accountId, acc);
      }
      const inserted = this.q.insertCharge.run(
        hold.accountId, -charge, acc.balance - charge, op.requestId, hold.keyId, op.extras?.note ?? null, this.now(),
      ).changes;
      if (inserted === 1) {
        acc.balance -= charge;
        acc.debit += charge;
        if (hold.keyId) keys.set(hold.keyId, (keys.get(hold.keyId) ?? 0) + charge);
        charged = charge;
      }
    }
    return { charged, released: hold.amount - charged };
  }

  private unhold(h: Hold): void {
    decrement(this.heldByAccount, h.accountId, h.amount);
    if (h.keyId) decrement(this.heldByKey, h.keyId, h.amount);
  }
}

/** Longest a settlement waits for others to share its transaction (only while requests are in flight). */
const COMMIT_GATHER_MS = 1;
const GATHER_IN_FLIGHT = 16;
const MAX_GATHERED = 512;
/** A hold open this long is written to credit_holds (shorter requests never write one). */
const HOLD_PERSIST_MS = 200;

type Outcome = { ok: true; value: SettleResult | null } | { ok: false; error: unknown };

/** Failures that would hit every operation alike, where retrying one by one only adds waiting. */
function isDatabaseWide(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && /^SQLITE_(BUSY|LOCKED|IOERR|FULL|READONLY|CANTOPEN|CORRUPT|NOTADB|NOMEM|PERM|PROTOCOL|INTERRUPT)/.test(code);
}

function decrement(map: Map<string, number>, id: string, amount: number): void {
  const left = (map.get(id) ?? 0) - amount;
  if (left === 0) map.delete(id);
  else map.set(id, left);
}
