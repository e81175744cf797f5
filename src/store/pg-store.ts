import { SQL } from "bun";
import { is, sql, SQL as DrizzleSql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sql";
import { applyPgMigrations } from "./pg-migrate";
import * as pgSchema from "./schema-pg";
import type { Store, TxOptions } from "./store";
import type { Db, Tables } from "./tables";
import { driveAsync, savepointSql, type Q, type Step, type Work } from "./work";

/** The channel every instance listens on; a notification means "re-read what you keep" (one with a payload is a signal). */
export const CHANGES_CHANNEL = "tollgate_changes";

/** SQLSTATEs after which a transaction is simply run again: serialization failure, deadlock. */
const RETRYABLE = new Set(["40001", "40P01"]);
/** Enough for a busy account's writers queueing on one row; each retry waits a random time up to 64 ms. */
const MAX_ATTEMPTS = 30;

/**
 * The PostgreSQL store: a pool of connections (Bun's built-in client), drizzle's bun-sql driver
 * over it, and a change stamp moved by LISTEN/NOTIFY. Units of work run at SERIALIZABLE, the
 * isolation SQLite's single writer gives them, and are run again when PostgreSQL aborts one for a
 * conflict: they are written without side effects outside the database, so a retry is safe.
 */
export class PgStore implements Store {
  readonly dialect = "postgres" as const;
  readonly t = pgSchema as unknown as Tables;
  readonly db: Db;
  readonly sql: SQL;
  /** Migrations this open applied (0 when the database was up to date). */
  migrated = 0;
  private epoch = 0;
  private unlisten: (() => Promise<void>) | null = null;
  private readonly signals: ((payload: string) => void)[] = [];
  private backstop: ReturnType<typeof setInterval> | null = null;

  private constructor(readonly url: string, poolSize: number) {
    this.sql = new SQL(url, { max: poolSize, idleTimeout: 60, connectionTimeout: 10 });
    this.db = drizzle({ client: this.sql }) as unknown as Db;
  }

  /** Connects, migrates (once across instances starting together) and starts listening for changes. */
  static async open(url: string, opts: { poolSize?: number; migrate?: boolean } = {}): Promise<PgStore> {
    const store = new PgStore(url, opts.poolSize ?? 20);
    try {
      if (opts.migrate ?? true) store.migrated = await applyPgMigrations(store.sql);
      await store.listen();
    } catch (e) {
      await store.sql.close().catch(() => undefined);
      throw unreachable(url, e);
    }
    return store;
  }

  /** Runs a unit of work outside a transaction: each query on whichever pooled connection is free. */
  read<T>(work: (q: Q) => Work<T>): Promise<T> {
    return driveAsync(work(this.q(this.db)), (s) => exec(s, this.db as unknown as PgDb));
  }

  /** Runs a unit of work as one SERIALIZABLE transaction, again on a conflict; ends with NOTIFY when asked. */
  async tx<T>(work: (q: Q) => Work<T>, opts: TxOptions = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await (this.db as unknown as PgDb).transaction(
          async (tx) => {
            const db = tx as unknown as PgDb;
            const result = await driveAsync(work(this.q(tx as unknown as Db)), (s) => exec(s, db));
            // Delivered to every listener when (and only if) the transaction commits.
            if (opts.notify) await db.execute(sql`SELECT pg_notify(${CHANGES_CHANNEL}, '')`);
            return result;
          },
          { isolationLevel: opts.isolation ?? "serializable" },
        );
      } catch (e) {
        if (attempt >= MAX_ATTEMPTS || !RETRYABLE.has(sqlState(e))) throw e;
        await Bun.sleep(Math.random() * Math.min(2 ** attempt, 64));
      }
    }
  }

  /** Moves whenever another instance (or this one) committed a change the request path caches. */
  changeStamp(): number {
    return this.epoch;
  }

  /** Tells every instance to re-read what it keeps (outside a unit of work). */
  async notifyChanged(): Promise<void> {
    await this.sql`SELECT pg_notify(${CHANGES_CHANNEL}, '')`;
  }

  /**
   * Hears the notifications that carry a payload: signals between instances (a lease asked back),
   * which change no row a memo keeps, so they do not move the stamp.
   */
  onSignal(f: (payload: string) => void): void {
    this.signals.push(f);
  }

  /** Sends a signal to every instance, this one too (outside a unit of work). */
  async signal(payload: string): Promise<void> {
    await this.sql`SELECT pg_notify(${CHANGES_CHANNEL}, ${payload})`;
  }

  async close(): Promise<void> {
    if (this.backstop) clearInterval(this.backstop);
    await this.unlisten?.().catch(() => {});
    await this.sql.close();
  }

  private q(db: Db): Q {
    return { db, t: this.t, dialect: "postgres" };
  }

  private async listen(): Promise<void> {
    const bump = () => {
      this.epoch++;
    };
    const heard = (payload?: string) => {
      if (payload) for (const f of this.signals) f(payload);
      else bump();
    };
    const sub = (await (this.sql as unknown as { listen(ch: string, fn: (payload?: string) => void): Promise<unknown> }).listen(CHANGES_CHANNEL, heard)) as
      | { unlisten?: () => Promise<void> }
      | (() => Promise<void>);
    this.unlisten = typeof sub === "function" ? sub : (sub.unlisten?.bind(sub) ?? null);
    // A notification lost with a dropped connection must not leave stale rows for long.
    this.backstop = setInterval(bump, 5_000);
    this.backstop.unref();
  }
}

type PgDb = {
  transaction<T>(fn: (tx: unknown) => Promise<T>, config?: { isolationLevel?: string }): Promise<T>;
  execute(q: unknown): Promise<unknown[] & { count?: number }>;
};

/** Runs one step of a unit of work: a drizzle query (awaited) or a raw `sql` statement (executed). */
async function exec(step: Step, db: PgDb): Promise<unknown> {
  if ("name" in step) return void (await db.execute(sql.raw(savepointSql(step))));
  const q = step.query as PromiseLike<unknown[] & { count?: number }> | DrizzleSql;
  const rows = is(q, DrizzleSql) ? await db.execute(q) : await (q as PromiseLike<unknown[] & { count?: number }>);
  if (step.op === "run") return { changes: rows.count ?? rows.length ?? 0 };
  const list = Array.from(rows as unknown[]);
  return step.op === "get" ? list[0] : list;
}

function sqlState(e: unknown): string {
  const err = e as { errno?: unknown; code?: unknown; cause?: { errno?: unknown; code?: unknown } };
  return String(err?.errno ?? err?.cause?.errno ?? err?.code ?? err?.cause?.code ?? "");
}

/**
 * Bun's client says only "Failed to connect": a failure to connect names the server it tried
 * (host, port, database, user; never the password).
 */
function unreachable(url: string, e: unknown): unknown {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== "string" || !/^ERR_POSTGRES_(CONNECTION|SERVER|AUTH|UNSUPPORTED_AUTH|TLS|SSL)/.test(code)) return e;
  let where = "the configured server";
  try {
    const u = new URL(url);
    where = `${u.hostname}:${u.port || "5432"}${u.pathname || "/"}${u.username ? ` as ${decodeURIComponent(u.username)}` : ""}`;
  } catch {}
  return new Error(`PostgreSQL at ${where}: ${(e as Error).message} (${code})`, { cause: e });
}
