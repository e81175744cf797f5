import { SqliteStore } from "../../src/store/sqlite-store";
import { insertAccount } from "../../src/modules/accounts/service";
import { insertKey } from "../../src/modules/keys/service";
import type { CreateKeyInput } from "../../src/modules/keys/model";
import { postCreditWork } from "../../src/money/ledger";
import { ApiError } from "../../src/lib/errors";

/** A fresh, migrated database (in memory unless a path is given). */
export function freshDb(path = ":memory:"): SqliteStore {
  const db = new SqliteStore(path);
  db.migrate();
  return db;
}

/** An account with `micros` of top-up credit (one ledger entry when non-zero). */
export function seedAccount(db: SqliteStore, micros = 0, name = "Acme"): string {
  const id = db.txSync((q) => insertAccount(q, { name }, "test", Date.now()), { durable: true }).id;
  if (micros) db.txSync((q) => postCreditWork(q, { accountId: id, amountMicros: micros, actor: "test", heldMicros: 0 }, Date.now()), { durable: true });
  return id;
}

export function seedKey(db: SqliteStore, accountId: string, input: CreateKeyInput = {}, now = Date.now()) {
  return db.txSync((q) => insertKey(q, { prefix: "sk-tg-", accountId, input, actor: "test" }, now), { durable: true });
}

/** A controllable clock for code that takes `now: () => number`. */
export function manualClock(start = Date.UTC(2030, 0, 1)) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
      return t;
    },
    set(ms: number) {
      t = ms;
    },
  };
}

/** Runs `fn` and returns the ApiError it throws (fails the test when it does not throw one). */
export function apiErrorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw new Error(`expected an ApiError, got ${String(e)}`);
  }
  throw new Error("expected an ApiError, nothing was thrown");
}

export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection, the promise resolved");
}

/** One macrotask: lets the credit store's group commit (scheduled with setImmediate) run. */
export const tick = () => new Promise<void>((r) => setImmediate(r));
