import type { Statement } from "bun:sqlite";
import type { Store } from "../store/store";
import { insertUsage } from "./usage-row";
import type { SettleResult } from "./credit-store";
import type { SettleRecord } from "./settle-journal";
import { increment } from "../lib/tally";

/** A hold open long enough to be written to credit_holds (what other processes see as held). */
export interface HoldRecord {
  t: "hold";
  requestId: string;
  accountId: string;
  keyId: string | null;
  amount: number;
  expiresAt: number;
  createdAt: number;
}

export type WriteOp = HoldRecord | SettleRecord;

export type Outcome = { ok: true; value: SettleResult | null } | { ok: false; error: unknown };

export interface Written {
  outcomes: Outcome[];
  /** Balance after the batch of every account it debited, when the batch committed as one. */
  balances: Map<string, number>;
  /** Spend added per key, when the batch committed as one. */
  keySpend: Map<string, number>;
}

/**
 * Writes credit-store operations to SQLite: ledger entries and usage rows per operation; each
 * account's balance read once and debited once per batch (and each key's spend updated once),
 * with every entry's balance_after computed as if charged one by one. Idempotent per request id
 * (the ledger's unique request_id), so the settlement journal can be applied again after a crash.
 */
export class SettleWriter {
  private readonly q: {
    insertHold: Statement;
    deleteHold: Statement;
    balanceOf: Statement<{ balance_micros: number }, [string]>;
    insertCharge: Statement;
    debit: Statement;
    keySpend: Statement;
  };

  constructor(private readonly store: Store) {
    const s = store.sqlite;
    this.q = {
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
  }

  /**
   * Commits the operations in one write transaction. If that fails for a reason tied to one
   * operation (a constraint, a bad value), each is retried alone so that one bad settlement does
   * not fail everybody else's; a database-wide failure (busy, I/O) fails the whole batch.
   */
  commit(ops: WriteOp[]): Written {
    const balances = new Map<string, number>();
    const keySpend = new Map<string, number>();
    try {
      // Absorbed: the caller updates its memoised balances and key spends from the maps returned,
      // and unrelated memos (key authentication) are not invalidated by charges.
      const values = this.store.absorbedWrite(() => this.store.write(() => this.applyAll(ops, balances, keySpend)));
      return { outcomes: values.map((value): Outcome => ({ ok: true, value })), balances, keySpend };
    } catch (e) {
      console.error("credit store commit failed:", e);
      balances.clear();
      keySpend.clear();
      // Written without absorbing: the memos are re-read from SQLite.
      const outcomes =
        ops.length > 1 && !isDatabaseWide(e)
          ? ops.map((op): Outcome => {
              try {
                return { ok: true, value: this.store.write(() => this.applyAll([op], new Map(), new Map())[0]!) };
              } catch (error) {
                return { ok: false, error };
              }
            })
          : ops.map((): Outcome => ({ ok: false, error: e }));
      return { outcomes, balances, keySpend };
    }
  }

  private applyAll(ops: WriteOp[], balances: Map<string, number>, keySpend: Map<string, number>): (SettleResult | null)[] {
    const debits = new Map<string, number>();
    const values = ops.map((op) => this.apply(op, balances, debits, keySpend));
    for (const [id, debit] of debits) this.q.debit.run(debit, id);
    for (const [id, spent] of keySpend) this.q.keySpend.run(spent, id);
    return values;
  }

  private apply(op: WriteOp, balances: Map<string, number>, debits: Map<string, number>, keySpend: Map<string, number>): SettleResult | null {
    if (op.t === "hold") {
      this.q.insertHold.run(op.requestId, op.accountId, op.keyId, op.amount, op.expiresAt, op.createdAt);
      return null;
    }
    if (op.persisted) this.q.deleteHold.run(op.requestId);
    if (op.extras?.usage) insertUsage(this.store, op.extras.usage);
    if (op.t === "release") return null;
    let charged = 0;
    if (op.charge > 0) {
      const balance = balances.get(op.accountId) ?? this.q.balanceOf.get(op.accountId)!.balance_micros;
      const inserted = this.q.insertCharge.run(
        op.accountId, -op.charge, balance - op.charge, op.requestId, op.keyId, op.extras?.note ?? null, op.at,
      ).changes;
      balances.set(op.accountId, inserted === 1 ? balance - op.charge : balance);
      if (inserted === 1) {
        increment(debits, op.accountId, op.charge);
        const key = op.capKeyId ?? op.keyId;
        if (key) increment(keySpend, key, op.charge);
        charged = op.charge;
      }
    }
    return { charged, released: Math.max(0, op.amount - charged) };
  }
}

/** Failures that would hit every operation alike, where retrying one by one only adds waiting. */
function isDatabaseWide(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && /^SQLITE_(BUSY|LOCKED|IOERR|FULL|READONLY|CANTOPEN|CORRUPT|NOTADB|NOMEM|PERM|PROTOCOL|INTERRUPT)/.test(code);
}
