import { Database, type Statement } from "bun:sqlite";
import { accessSync, constants } from "node:fs";
import { is, SQL } from "drizzle-orm";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { ChangeWatch } from "./change-watch";
import { FileIdentity } from "./file-identity";
import { openDatabase, openError } from "./sqlite-open";
import { applyMigrations } from "./migrate";
import { backfill } from "./backfill";
import * as schema from "./schema";
import type { Store, TxOptions } from "./store";
import type { Tables } from "./tables";
import { WalCheckpointer } from "./wal-checkpointer";
import { driveSync, savepointSql, type Q, type Step, type Work } from "./work";

export type Db = BunSQLiteDatabase<typeof schema> & { $client: Database };

/**
 * The embedded store: one SQLite connection, created once at start-up and passed to whatever
 * reads or writes the database. It owns the connection, its change watch and the hook that
 * writes the money engine's unwritten settlements before any other write (`catchUp`).
 *
 * Durability policy (docs/billing.md): the connection runs WAL with synchronous=NORMAL, so a
 * commit survives a process crash or kill -9 without an fsync per request. Writes that must also
 * survive power loss (top-ups, adjustments, admin changes, payments) go through `durable()`,
 * which runs the transaction under synchronous=FULL so its commit fsyncs the WAL.
 */
export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  readonly t: Tables = schema;
  readonly db: Db;
  readonly sqlite: Database;
  private readonly q: Q;
  private readonly watch: ChangeWatch;
  private writeBehind: (() => void) | null = null;
  private objectsBehind: (() => boolean) | undefined;
  private checkpointer: WalCheckpointer | null = null;
  private readonly statements = new Map<string, Statement>();
  private readonly identity: FileIdentity | null;

  constructor(readonly path: string) {
    this.sqlite = openDatabase(path);
    // No relational schema: nothing uses db.query, and extracting its config costs about 1 ms at every start.
    this.db = drizzle({ client: this.sqlite }) as unknown as Db;
    this.q = { db: this.db, t: schema, dialect: "sqlite" };
    this.watch = new ChangeWatch(this.sqlite);
    this.identity = this.file ? new FileIdentity(this.file) : null;
  }

  /** What is wrong with the database file at the path, deleted or replaced since the open; null when it is the one open here. */
  fileProblem(): string | null {
    return this.identity?.problem() ?? null;
  }

  /**
   * Throws the open error's line unless the file may be written: SQLite opens a file the system
   * write-protects read-only, and would fail only at the first write, without naming the file.
   */
  assertWritable(): void {
    const file = this.file;
    try {
      if (file) accessSync(file, constants.W_OK);
    } catch (e) {
      throw openError(file!, e);
    }
  }

  /** A prepared statement for `sql`, prepared once per connection (query() hashes the text on every call). */
  prepared(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) this.statements.set(sql, (stmt = this.sqlite.prepare(sql)));
    return stmt;
  }

  /** Applies pending migrations, then the data steps that follow them (backfill.ts); returns how many migrations ran. */
  migrate(): number {
    const ran = applyMigrations(this.sqlite);
    backfill(this.sqlite);
    return ran;
  }

  /** The database file, or null for an in-memory database. */
  get file(): string | null {
    const f = this.sqlite.filename;
    return f && f !== ":memory:" ? f : null;
  }

  /**
   * Set once by the credit store (SqliteCreditStore) when it keeps settlements in a journal:
   * `catchUp()` then writes them to SQLite, so that whatever reads or writes money next sees
   * every charge made so far. `durable()` and the Elysia app (before every request) call it.
   */
  setWriteBehind(apply: () => void, storesObjects?: () => boolean): void {
    this.writeBehind = apply;
    this.objectsBehind = storesObjects;
  }

  /** Whether journaled settlements record stored objects SQLite does not have yet (see catchUp). */
  objectsPending(): boolean {
    return this.objectsBehind?.() ?? false;
  }

  /**
   * From the next write on, WAL checkpoints run on a thread of their own (wal-checkpointer.ts),
   * not inside a commit on the event loop. The gateway turns it on once it has started.
   */
  checkpointOffThread(restartPages?: number): void {
    const file = this.file;
    if (!file) return;
    this.checkpointer ??= new WalCheckpointer(this.sqlite, file, restartPages);
    this.checkpointer.enable();
  }

  /** How long a write waits for another process's lock before SQLITE_BUSY (see SERVING_BUSY_MS). */
  waitForLocks(ms: number): void {
    this.sqlite.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(ms))}`);
  }

  /** Whether a thread does the WAL checkpoints now. */
  get checkpointsOffThread(): boolean {
    return this.checkpointer?.running ?? false;
  }

  /** Writes the journaled settlements now (outside a transaction only). */
  catchUp(): void {
    if (this.writeBehind && !this.sqlite.inTransaction) this.writeBehind();
  }

  /** Runs a write transaction whose commit is fsynced (see policy above). Never pass async code. */
  durable<T>(fn: () => T): T {
    // Journaled charges first, so that a top-up's ledger entry comes after the charges made before it.
    this.catchUp();
    // Nested in another durable() (e.g. sign-up = account + login + credit): part of the outer
    // transaction, which already commits under FULL (SQLite cannot change the level mid-transaction).
    if (this.sqlite.inTransaction) return this.sqlite.transaction(fn)();
    this.sqlite.exec("PRAGMA synchronous = FULL");
    try {
      return this.sqlite.transaction(fn).immediate();
    } finally {
      this.sqlite.exec("PRAGMA synchronous = NORMAL");
      this.checkpointer?.wrote();
    }
  }

  /** A fast (synchronous=NORMAL) immediate write transaction. Never pass async code. */
  write<T>(fn: () => T): T {
    try {
      return this.sqlite.transaction(fn).immediate();
    } finally {
      this.checkpointer?.wrote();
    }
  }

  /** See ChangeWatch: moves whenever the database may have changed (`taken`: as last checked, no query). */
  changeStamp(taken = false): number {
    return taken ? this.watch.taken : this.watch.stamp();
  }

  /**
   * Runs a write of the request path whose effects the caller applies to its own memos itself
   * (the credit store's settlements): it does not move the change stamp, so that memos of rows it
   * never touches (keys, plans) survive the hundreds of settlements a second under load. Any other
   * write before it, or one that fails, still moves the stamp.
   */
  absorbedWrite<T>(fn: () => T): T {
    const before = this.watch.mark();
    const result = fn();
    this.watch.absorb(before);
    return result;
  }

  /** A unit of work outside a transaction (each statement its own, as SQLite runs them). */
  read<T>(work: (q: Q) => Work<T>): Promise<T> {
    try {
      return Promise.resolve(this.readSync(work));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** A unit of work as one write transaction, run synchronously: nothing is awaited inside it. */
  tx<T>(work: (q: Q) => Work<T>, opts: TxOptions = {}): Promise<T> {
    try {
      return Promise.resolve(this.txSync(work, opts));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** `read` for SQLite-only callers that need the result now. */
  readSync<T>(work: (q: Q) => Work<T>): T {
    return driveSync(work(this.q), this.exec);
  }

  /** `tx` for SQLite-only callers that need the result now (and inside another transaction). */
  txSync<T>(work: (q: Q) => Work<T>, opts: TxOptions = {}): T {
    const run = () => driveSync(work(this.q), this.exec);
    return opts.durable ? this.durable(run) : this.write(run);
  }

  /** One step of a unit of work: drizzle's synchronous all/get/run, on a query or a raw statement. */
  private readonly exec = (step: Step): unknown => {
    if ("name" in step) return void this.sqlite.exec(savepointSql(step));
    const q = step.query as { all(): unknown[]; get(): unknown; run(): { changes: number } };
    if (is(step.query, SQL)) {
      const raw = step.query as SQL;
      if (step.op === "all") return this.db.all(raw);
      if (step.op === "get") return this.db.get(raw);
      // bun:sqlite's run() result, which drizzle passes through (its type says void).
      return { changes: (this.db.run(raw) as unknown as { changes: number }).changes };
    }
    if (step.op === "all") return q.all();
    if (step.op === "get") return q.get();
    return { changes: q.run().changes };
  };

  close(): void {
    this.checkpointer?.close();
    this.sqlite.close();
  }
}

/**
 * SQLite waits for a lock on the calling thread, in `serve` the event loop: it waits this long
 * (enough for the CLI's short transactions and a checkpoint restarting the log), so that a lock
 * held for long (a shell left in a transaction) stalls requests this much at a time, not 5 s.
 */
export const SERVING_BUSY_MS = 250;

/** Opens (creating it if needed) and migrates the database at `path`. */
export function openStore(path: string): SqliteStore {
  const store = new SqliteStore(path);
  store.migrate();
  return store;
}
