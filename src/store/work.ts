/**
 * Units of work: a service's transaction written once for both stores. A unit of work is a
 * generator that yields the queries it needs and receives their results; the store drives it.
 * SQLite drives it synchronously inside its transaction (nothing is ever awaited there);
 * PostgreSQL awaits each query inside BEGIN … COMMIT. Compose them with `yield*`.
 */
import type { SQL } from "drizzle-orm";
import type { Db, Tables } from "./tables";

/** What a unit of work asks of its store: a statement, or a savepoint around some (attempt). */
export type Step =
  | { readonly op: "all" | "get" | "run"; readonly query: unknown }
  | { readonly op: "savepoint" | "release" | "rollback"; readonly name: string };

export type Work<T> = Generator<Step, T, unknown>;

/** The query builder and tables of the store (or transaction) a unit of work runs in. */
export interface Q {
  readonly db: Db;
  readonly t: Tables;
  /** "sqlite" or "postgres", for the rare statement the two write differently. */
  readonly dialect: Dialect;
}

export type Dialect = "sqlite" | "postgres";

type Rows = PromiseLike<readonly unknown[]>;

/** Every row of a select (or of an insert/update … returning). */
export function* all<B extends Rows>(query: B): Work<Awaited<B>> {
  return (yield { op: "all", query }) as Awaited<B>;
}

/** The first row, or undefined. */
export function* get<B extends Rows>(query: B): Work<Awaited<B>[number] | undefined> {
  return (yield { op: "get", query }) as Awaited<B>[number] | undefined;
}

/** A write; `changes` is the number of rows it touched. */
export function* run(query: PromiseLike<unknown> | SQL): Work<{ changes: number }> {
  return (yield { op: "run", query }) as { changes: number };
}

/** Rows of a raw statement (drizzle's `sql` template, written to run on both dialects). */
export function* rows<T>(query: SQL): Work<T[]> {
  return (yield { op: "all", query }) as T[];
}

/**
 * Runs `work` so that a failing statement undoes only `work` and the transaction goes on (a
 * savepoint): PostgreSQL aborts a whole transaction on an error otherwise. Prefer statements that
 * cannot fail (ON CONFLICT DO NOTHING); this is for the rare unit that must try.
 */
export function* attempt<T>(work: Work<T>): Work<{ ok: true; value: T } | { ok: false; error: unknown }> {
  const name = `tg_${crypto.randomUUID().replaceAll("-", "")}`;
  yield { op: "savepoint", name };
  try {
    const value = yield* work;
    yield { op: "release", name };
    return { ok: true, value };
  } catch (error) {
    yield { op: "rollback", name };
    return { ok: false, error };
  }
}

/** The SQL of a savepoint step (the same on both dialects). */
export function savepointSql(step: Extract<Step, { name: string }>): string {
  return step.op === "savepoint" ? `SAVEPOINT ${step.name}` : step.op === "release" ? `RELEASE SAVEPOINT ${step.name}` : `ROLLBACK TO SAVEPOINT ${step.name}`;
}

/** Drives a unit of work synchronously (SQLite). A failing query is thrown into the generator. */
export function driveSync<T>(work: Work<T>, exec: (step: Step) => unknown): T {
  let next = work.next();
  while (!next.done) {
    let value: unknown;
    try {
      value = exec(next.value);
    } catch (e) {
      next = work.throw(e);
      continue;
    }
    next = work.next(value);
  }
  return next.value;
}

/** Drives a unit of work, awaiting each query (PostgreSQL). */
export async function driveAsync<T>(work: Work<T>, exec: (step: Step) => Promise<unknown>): Promise<T> {
  let next = work.next();
  while (!next.done) {
    let value: unknown;
    try {
      value = await exec(next.value);
    } catch (e) {
      next = work.throw(e);
      continue;
    }
    next = work.next(value);
  }
  return next.value;
}
