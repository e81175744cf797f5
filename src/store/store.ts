import type { Dialect, Q, Work } from "./work";

export interface TxOptions {
  /** SQLite: commit with synchronous=FULL (an fsync), for money and admin changes. PostgreSQL commits durably always. */
  durable?: boolean;
  /** Tell every instance to re-read the rows it keeps (keys, accounts, limits): PostgreSQL's NOTIFY on commit. */
  notify?: boolean;
  /**
   * PostgreSQL: "read committed" for the money engine's own transactions, which serialize on
   * explicit locks (advisory locks per credit scope) instead of SERIALIZABLE's retries.
   */
  isolation?: "serializable" | "read committed";
}

/**
 * What every part of Tollgate that is not the SQLite money engine sees of the database, whichever
 * it is: SqliteStore (embedded, the default) or PgStore (database_url). Work is written once as
 * units of work (work.ts): `read` runs one outside a transaction, `tx` as one transaction.
 */
export interface Store {
  readonly dialect: Dialect;
  read<T>(work: (q: Q) => Work<T>): Promise<T>;
  tx<T>(work: (q: Q) => Work<T>, opts?: TxOptions): Promise<T>;
  /** Moves whenever rows the request path keeps may have changed (here or in another process). */
  changeStamp(): number;
  /** SQLite: writes the settlements only its journal holds yet, before a read of balances. PostgreSQL has no journal. */
  catchUp?(): void;
  /** Whether catchUp would write stored objects (Responses and their items) a lookup may miss. */
  objectsPending?(): boolean;
  /** SQLite: the database file at the path was deleted or replaced since the open (what is wrong), else null. */
  fileProblem?(): string | null;
  /** Closes the connection (SQLite) or the pool and the change listener (PostgreSQL). */
  close(): void | Promise<void>;
}
