import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { migrations } from "../../drizzle";
import * as schema from "./schema";

export type Db = BunSQLiteDatabase<typeof schema> & { $client: Database };

/**
 * Durability policy (README "Storage"): the connection runs WAL with synchronous=NORMAL, so a
 * commit survives a process crash or kill -9 without an fsync per request. Writes that must also
 * survive power loss (top-ups, adjustments, admin changes, payments) go through `durable()`, which
 * runs the transaction under synchronous=FULL so its commit fsyncs the WAL.
 */
export function openDb(path: string): Db {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path, { create: true, strict: true });
  sqlite.exec("PRAGMA journal_mode = WAL");
  sqlite.exec("PRAGMA synchronous = NORMAL");
  sqlite.exec("PRAGMA busy_timeout = 5000");
  sqlite.exec("PRAGMA foreign_keys = ON");
  sqlite.exec("PRAGMA temp_store = MEMORY");
  return drizzle({ client: sqlite, schema }) as Db;
}

/** Applies pending migrations (embedded in the binary); returns how many ran. */
export function migrate(db: Db): number {
  const sqlite = db.$client;
  sqlite.exec(
    "CREATE TABLE IF NOT EXISTS __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)",
  );
  const last = sqlite.query<{ created_at: number }, []>(
    "SELECT created_at FROM __drizzle_migrations ORDER BY created_at DESC LIMIT 1",
  ).get();
  const pending = migrations.filter((m) => !last || Number(last.created_at) < m.when);
  if (pending.length === 0) return 0;
  sqlite.transaction(() => {
    for (const m of pending) {
      for (const stmt of m.sql.split("--> statement-breakpoint")) if (stmt.trim()) sqlite.exec(stmt);
      // Same bookkeeping as drizzle-orm's migrator, so drizzle tooling agrees on what ran.
      sqlite
        .query("INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)")
        .run(new Bun.CryptoHasher("sha256").update(m.sql).digest("hex"), m.when);
    }
  }).immediate();
  return pending.length;
}

/** Runs a write transaction whose commit is fsynced (see policy above). Never pass async code. */
export function durable<T>(db: Db, fn: () => T): T {
  const sqlite = db.$client;
  // Journaled charges first, so that a top-up's ledger entry comes after the charges made before it.
  caughtUp(db);
  // Nested in another durable() (e.g. sign-up = account + login + credit): part of the outer
  // transaction, which already commits under FULL (SQLite cannot change the level mid-transaction).
  if (sqlite.inTransaction) return sqlite.transaction(fn)();
  sqlite.exec("PRAGMA synchronous = FULL");
  try {
    return sqlite.transaction(fn).immediate();
  } finally {
    sqlite.exec("PRAGMA synchronous = NORMAL");
  }
}

/**
 * The credit store's write-behind: settlements it has made durable in its journal but not yet
 * written to SQLite. `caughtUp` writes them now, before anything else in this process reads or
 * writes money (the Elysia app runs it before every request; `durable()` before its transaction).
 */
export function setWriteBehind(db: Db, apply: () => void): void {
  writeBehind.set(db.$client, apply);
}

export function caughtUp(db: Db): Db {
  const apply = writeBehind.get(db.$client);
  if (apply && !db.$client.inTransaction) apply();
  return db;
}

const writeBehind = new WeakMap<Database, () => void>();

/** A fast (synchronous=NORMAL) immediate write transaction. Never pass async code. */
export function write<T>(db: Db, fn: () => T): T {
  return db.$client.transaction(fn).immediate();
}

/**
 * A number that changes whenever the database may have changed since it was last taken: any
 * write on this connection (total_changes(), checked on every call) or a commit by another
 * connection, such as the CLI in another process (PRAGMA data_version, read at most once per
 * event-loop turn). The request path keeps rows it read under the same stamp instead of reading
 * SQLite again for every request; a write here is seen at once, one elsewhere from the next turn.
 */
export function changeStamp(db: Db): number {
  return watch(db).stamp();
}

/**
 * Runs a write of the request path whose effects the caller applies to its own memos itself
 * (the credit store's settlements): it does not move the change stamp, so that memos of rows it
 * never touches (keys, plans) survive the hundreds of settlements a second under load. Any other
 * write before it, or one that fails, still moves the stamp.
 */
export function absorbedWrite<T>(db: Db, fn: () => T): T {
  const w = watch(db);
  const before = w.totalChanges();
  const result = fn();
  w.absorb(before);
  return result;
}

function watch(db: Db): ChangeWatch {
  let w = watches.get(db.$client);
  if (!w) watches.set(db.$client, (w = new ChangeWatch(db.$client)));
  return w;
}

const watches = new WeakMap<Database, ChangeWatch>();

class ChangeWatch {
  private readonly changesQuery: Statement<{ n: number }, []>;
  private readonly dataVersion: Statement<{ data_version: number }, []>;
  private changes = -1;
  private version = -1;
  private epoch = 0;
  private checkedThisTurn = false;
  private readonly newTurn = () => {
    this.checkedThisTurn = false;
  };

  constructor(sqlite: Database) {
    this.changesQuery = sqlite.query("SELECT total_changes() AS n");
    this.dataVersion = sqlite.query("PRAGMA data_version");
  }

  totalChanges(): number {
    return this.changesQuery.get()!.n;
  }

  /** The changes since `before` were absorbed by their writer: seen, without a new epoch. */
  absorb(before: number): void {
    if (this.changes === before) this.changes = this.totalChanges();
  }

  stamp(): number {
    const n = this.totalChanges();
    if (n !== this.changes) {
      this.changes = n;
      this.epoch++;
    }
    if (!this.checkedThisTurn) {
      this.checkedThisTurn = true;
      setImmediate(this.newTurn);
      const v = this.dataVersion.get()!.data_version;
      if (v !== this.version) {
        this.version = v;
        this.epoch++;
      }
    }
    return this.epoch;
  }
}
