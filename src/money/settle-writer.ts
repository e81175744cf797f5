import type { Statement } from "bun:sqlite";
import type { SqliteStore } from "../store/sqlite-store";
import { insertObject, insertUsage } from "./usage-row";
import type { SettleExtras, SettleResult, StoredObjectRow } from "./credit-store";
import type { SettleRecord } from "./settle-journal";
import { increment } from "../lib/tally";
import { isSqliteBusy } from "../lib/errors";
import { BudgetClock } from "./budget-clock";
import { ownersOf } from "./budgets";
import { newestOfLine } from "../gateway/key-row";

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
  /** Spend added per budget owner and day, when the batch committed as one. */
  budgetSpend: BudgetAdd[];
}

export interface BudgetAdd {
  owner: string;
  day: number;
  micros: number;
}

/** What one batch adds: account debits, key spends and budget days, each written once. */
interface Tallies {
  balances: Map<string, number>;
  debits: Map<string, number>;
  keySpend: Map<string, number>;
  /** `<owner> <day>` → micros. */
  budgets: Map<string, number>;
  /** A key → the newest key of its line, as this batch's transaction reads it. */
  lines: Map<string, string>;
}

const tallies = (): Tallies => ({ balances: new Map(), debits: new Map(), keySpend: new Map(), budgets: new Map(), lines: new Map() });

/**
 * Writes credit-store operations to SQLite: ledger entries and usage rows per operation; each
 * account's balance read once and debited once per batch (and each key's spend and each budget
 * owner's day updated once), with every entry's balance_after computed as if charged one by one.
 * Idempotent per request id (the ledger's unique request_id), so the settlement journal can be
 * applied again after a crash: a charge already in the ledger adds to no spend either.
 */
export class SettleWriter {
  private readonly q: {
    insertHold: Statement;
    deleteHold: Statement;
    balanceOf: Statement<{ balance_micros: number }, [string]>;
    insertCharge: Statement;
    debit: Statement;
    keySpend: Statement;
    budgetSpend: Statement;
    rotatedTo: Statement<{ rotated_to: string | null }, [string]>;
  };

  /** `clock` decides the day a charge's budget spend counts on (the zone of budget_timezone). */
  constructor(private readonly store: SqliteStore, private readonly clock = new BudgetClock()) {
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
      budgetSpend: s.query(
        "INSERT INTO budget_spend (owner, day, spent_micros) VALUES (?, ?, ?) ON CONFLICT (owner, day) DO UPDATE SET spent_micros = spent_micros + excluded.spent_micros",
      ),
      rotatedTo: s.query("SELECT rotated_to FROM api_keys WHERE id = ?"),
    };
  }

  /**
   * The newest key of `keyId`'s line, read in the write's own transaction: a rotation made since the
   * charge was journaled (by the CLI, say, which copied the line's spend as SQLite had it) gets the
   * charge on the key that now carries the line's cap and budget.
   */
  private newestOf(keyId: string, t: Tallies): string {
    let newest = t.lines.get(keyId);
    if (newest === undefined) {
      newest = newestOfLine(keyId, (id) => this.q.rotatedTo.get(id)?.rotated_to ?? null);
      t.lines.set(keyId, newest);
    }
    return newest;
  }

  /**
   * Commits the operations in one write transaction. If that fails for a reason tied to one
   * operation (a constraint, a bad value), each is retried alone so that one bad settlement does
   * not fail everybody else's; a database-wide failure (busy, I/O) fails the whole batch.
   */
  commit(ops: WriteOp[]): Written {
    let t = tallies();
    try {
      // Absorbed: the caller updates its memoised balances and spends from what is returned, and
      // unrelated memos (key authentication) are not invalidated by charges.
      const values = this.store.absorbedWrite(() => this.store.write(() => this.applyAll(ops, t)));
      return { outcomes: values.map((value): Outcome => ({ ok: true, value })), balances: t.balances, keySpend: t.keySpend, budgetSpend: budgetAdds(t) };
    } catch (e) {
      if (isSqliteBusy(e)) console.error(`credit store commit: the database is locked by another process; ${ops.length} write(s) not done now`);
      else console.error("credit store commit failed:", e);
      t = tallies();
      // Written without absorbing: the memos are re-read from SQLite.
      const outcomes =
        ops.length > 1 && !isDatabaseWide(e)
          ? ops.map((op): Outcome => {
              try {
                return { ok: true, value: this.store.write(() => this.applyAll([op], tallies())[0]!) };
              } catch (error) {
                return { ok: false, error };
              }
            })
          : ops.map((): Outcome => ({ ok: false, error: e }));
      return { outcomes, balances: t.balances, keySpend: t.keySpend, budgetSpend: [] };
    }
  }

  private applyAll(ops: WriteOp[], t: Tallies): (SettleResult | null)[] {
    const values = ops.map((op) => this.apply(op, t));
    for (const [id, debit] of t.debits) this.q.debit.run(debit, id);
    for (const [id, spent] of t.keySpend) this.q.keySpend.run(spent, id);
    for (const b of budgetAdds(t)) this.q.budgetSpend.run(b.owner, b.day, b.micros);
    return values;
  }

  private balanceOf(op: { requestId: string; accountId: string }): number {
    const row = this.q.balanceOf.get(op.accountId);
    if (!row) throw missingAccount(op);
    return row.balance_micros;
  }

  private apply(op: WriteOp, t: Tallies): SettleResult | null {
    if (op.t === "hold") {
      this.q.insertHold.run(op.requestId, op.accountId, op.keyId, op.amount, op.expiresAt, op.createdAt);
      return null;
    }
    if (op.persisted) this.q.deleteHold.run(op.requestId);
    if (op.extras?.usage) insertUsage(this.store, op.extras.usage);
    if (op.extras) for (const o of storedRows(op.extras)) insertObject(this.store, o);
    if (op.t === "release") return null;
    let charged = 0;
    if (op.charge > 0) {
      const balance = t.balances.get(op.accountId) ?? this.balanceOf(op);
      const inserted = this.q.insertCharge.run(
        op.accountId, -op.charge, balance - op.charge, op.requestId, op.keyId, op.extras?.note ?? null, op.at,
      ).changes;
      t.balances.set(op.accountId, inserted === 1 ? balance - op.charge : balance);
      if (inserted === 1) {
        increment(t.debits, op.accountId, op.charge);
        const key = op.capKeyId ?? op.keyId;
        const line = key === null ? null : this.newestOf(key, t);
        if (line) increment(t.keySpend, line, op.charge);
        const day = this.clock.dayStart(op.at);
        for (const owner of ownersOf({ keyId: line, memberId: op.memberId })) increment(t.budgets, `${owner} ${day}`, op.charge);
        charged = op.charge;
      }
    }
    return { charged, released: Math.max(0, op.amount - charged) };
  }
}

/**
 * The upstream_objects rows a settlement records: its stored object, and each item stored with it
 * as a row of kind "item" with the same owner and upstream key (both stores write these).
 */
export function storedRows(extras: SettleExtras): StoredObjectRow[] {
  const o = extras.object;
  // A settlement journaled without the items' size gives them the response's: never below theirs.
  return o ? [o, ...itemRows(o, extras.items ?? [], o.createdAt, extras.itemTokens ?? o.tokens)] : [];
}

/**
 * Rows of kind "item" for `ids`, stored with `of`: its owner and upstream key, and `tokens`, the
 * most a request naming one is billed for it (the hold adds it); by default the whole of `of`,
 * which holds each of its input and output items. 0 is a row recorded before sizes were kept.
 * Each names `of` as its response: the hold bounds a response's items together by it, which a
 * creation time or a size cannot tell apart from another answer's.
 */
export function itemRows(of: StoredObjectRow, ids: readonly string[], createdAt = of.createdAt, tokens = of.tokens): StoredObjectRow[] {
  return ids.map((id): StoredObjectRow => ({ ...of, id, kind: "item", tokens, chargeMicros: 0, createdAt, responseId: of.id }));
}

/** A charge's account must exist: a journal kept beside a restored, older copy of the database may name one it never had. */
function missingAccount(op: { requestId: string; accountId: string }): Error {
  return new Error(
    `settlement ${op.requestId} charges account ${op.accountId}, which this database does not have: the settlement journal beside it was written for another copy of it (was a backup restored? see docs/billing.md#backups)`,
  );
}

function budgetAdds(t: Tallies): BudgetAdd[] {
  return [...t.budgets].map(([k, micros]) => {
    const i = k.lastIndexOf(" ");
    return { owner: k.slice(0, i), day: Number(k.slice(i + 1)), micros };
  });
}

/** Failures that would hit every operation alike, where retrying one by one only adds waiting. */
function isDatabaseWide(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && /^SQLITE_(BUSY|LOCKED|IOERR|FULL|READONLY|CANTOPEN|CORRUPT|NOTADB|NOMEM|PERM|PROTOCOL|INTERRUPT)/.test(code);
}
