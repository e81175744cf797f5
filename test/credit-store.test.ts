import { describe, expect, setDefaultTimeout, test } from "bun:test";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SqliteStore } from "../src/store/sqlite-store";
import { SettleJournal } from "../src/money/settle-journal";
import { SettleSink } from "../src/money/settle-sink";
import { ApiError } from "../src/lib/errors";
import { updateAccount } from "../src/modules/accounts/service";
import { SqliteCreditStore } from "../src/money/sqlite-credit-store";
import type { UsageRecord } from "../src/money/credit-store";
import { checkLedger, checkLedgerSync, postCredit } from "../src/money/ledger";
import { persistedHeld } from "./support/held-rows";
import { apiErrorOf, freshDb, manualClock, rejectionOf, seedAccount, seedKey, tick } from "./support/foundation";

const USD = 1_000_000;
// bunfig's [test] timeout is not applied by bun 1.4.5; the property test needs room on a busy machine.
setDefaultTimeout(60_000);

function setup(credits = 10 * USD) {
  const db = freshDb();
  const clock = manualClock();
  const store = new SqliteCreditStore(db, { holdTtlMs: 60_000, now: clock.now });
  const acc = seedAccount(db, credits);
  return { db, clock, store, acc };
}

const sql = (db: SqliteStore) => db.sqlite;
const charges = (db: SqliteStore, accountId?: string) =>
  sql(db)
    .query<{ request_id: string; amount_micros: number; key_id: string | null; note: string | null; balance_after_micros: number }, []>(
      `SELECT request_id, amount_micros, key_id, note, balance_after_micros FROM ledger_entries WHERE kind = 'charge'${accountId ? ` AND account_id = '${accountId}'` : ""} ORDER BY id`,
    )
    .all();
const persistedHolds = (db: SqliteStore) => sql(db).query<{ n: number }, []>("SELECT count(*) AS n FROM credit_holds").get()!.n;
const keySpent = (db: SqliteStore, keyId: string) =>
  sql(db).query<{ s: number }, [string]>("SELECT spent_micros AS s FROM api_keys WHERE id = ?").get(keyId)!.s;

function usage(requestId: string, accountId: string, costMicros: number): UsageRecord {
  return {
    requestId, accountId, keyId: null, model: "grok-4", stream: false, status: 200, promptTokens: 10, cachedTokens: 0,
    completionTokens: 5, reasoningTokens: 0, costMicros, estimated: false, latencyMs: 12, ttftMs: null,
    upstreamRequestId: null, errorCode: null, createdAt: 1,
  };
}


/** Counts the transactions opened on the database's connection until restore(). */
function countTransactions(db: SqliteStore) {
  const client = db.sqlite;
  const original = client.transaction.bind(client);
  const spy = { count: 0, restore: () => void (client.transaction = original) };
  client.transaction = ((fn: never) => {
    spy.count++;
    return original(fn);
  }) as typeof client.transaction;
  return spy;
}

describe("reserve", () => {
  test("holds credit at once and refuses more than the available balance with 402", () => {
    const { store, acc } = setup(10 * USD);
    store.reserve({ accountId: acc, requestId: "r1", amount: 7 * USD });
    expect(store.balance(acc)).toEqual({ balance: 10 * USD, held: 7 * USD, available: 3 * USD });
    const e = apiErrorOf(() => store.reserve({ accountId: acc, requestId: "r2", amount: 3 * USD + 1 }));
    expect(e.status).toBe(402);
    expect(e.code).toBe("insufficient_quota");
    expect(e.type).toBe("insufficient_quota");
    expect(e.headers["x-should-retry"]).toBe("false");
    // LiteLLM-as-client treats these words as retryable.
    expect(e.message).not.toMatch(/rate.?limit|429/i);
    store.reserve({ accountId: acc, requestId: "r3", amount: 3 * USD });
    expect(store.balance(acc).available).toBe(0);
    expect(store.openHolds).toBe(2);
  });

  test("a zero hold is admitted even with no credit, one more micro is not", () => {
    const { store, acc } = setup(0);
    store.reserve({ accountId: acc, requestId: "r0", amount: 0 });
    expect(apiErrorOf(() => store.reserve({ accountId: acc, requestId: "r1", amount: 1 })).status).toBe(402);
  });

  test("the same request id cannot hold twice", () => {
    const { store, acc } = setup();
    store.reserve({ accountId: acc, requestId: "r1", amount: 1 });
    const e = apiErrorOf(() => store.reserve({ accountId: acc, requestId: "r1", amount: 1 }));
    expect(e.status).toBe(409);
    expect(store.balance(acc).held).toBe(1);
  });

  test("unknown account is 404, invalid amounts are programming errors", () => {
    const { store, acc } = setup();
    expect(apiErrorOf(() => store.reserve({ accountId: "acc_nope", requestId: "r1", amount: 1 })).status).toBe(404);
    expect(() => store.balance("acc_nope")).toThrow(ApiError);
    expect(() => store.reserve({ accountId: acc, requestId: "r2", amount: -1 })).toThrow(TypeError);
    expect(() => store.reserve({ accountId: acc, requestId: "r3", amount: 1.5 })).toThrow(TypeError);
    expect(store.openHolds).toBe(0);
  });

  test("a suspended account cannot reserve (suspension applies to requests already authenticated)", async () => {
    const { db, store, acc } = setup();
    await updateAccount(db, acc, { status: "suspended" }, "test");
    const e = apiErrorOf(() => store.reserve({ accountId: acc, requestId: "r1", amount: 1 }));
    expect(e.status).toBe(401);
    expect(e.code).toBe("invalid_api_key");
    expect(store.openHolds).toBe(0);
    await updateAccount(db, acc, { status: "active" }, "test");
    store.reserve({ accountId: acc, requestId: "r1", amount: 1 });
  });

  test("a key's spend cap counts what it spent and what it holds", async () => {
    const { db, store, acc } = setup(100 * USD);
    const { row: capped } = seedKey(db, acc, { spend_cap_micros: 1 * USD });
    const { row: free } = seedKey(db, acc);
    store.reserve({ accountId: acc, keyId: capped.id, requestId: "a", amount: 600_000 });
    const e = apiErrorOf(() => store.reserve({ accountId: acc, keyId: capped.id, requestId: "b", amount: 400_001 }));
    expect(e.status).toBe(402);
    expect(e.message).toMatch(/spending cap/);
    // Other keys of the account are not affected by this key's cap.
    store.reserve({ accountId: acc, keyId: free.id, requestId: "c", amount: 5 * USD });
    expect(await store.settle("a", 600_000)).toEqual({ charged: 600_000, released: 0 });
    expect(keySpent(db, capped.id)).toBe(600_000);
    store.reserve({ accountId: acc, keyId: capped.id, requestId: "d", amount: 400_000 });
    expect(apiErrorOf(() => store.reserve({ accountId: acc, keyId: capped.id, requestId: "e", amount: 1 })).status).toBe(402);
    expect(await store.release("d")).toBe(true);
    store.reserve({ accountId: acc, keyId: capped.id, requestId: "e", amount: 400_000 });
  });
});

describe("settle and release", () => {
  test("settle charges the actual cost, releases the rest and writes one ledger row", async () => {
    const { db, store, acc, clock } = setup(10 * USD);
    const { row: key } = seedKey(db, acc);
    store.reserve({ accountId: acc, keyId: key.id, requestId: "r1", amount: 2 * USD });
    const result = await store.settle("r1", 1_250_000, { note: "grok-4" });
    expect(result).toEqual({ charged: 1_250_000, released: 750_000 });
    expect(store.balance(acc)).toEqual({ balance: 8_750_000, held: 0, available: 8_750_000 });
    expect(charges(db)).toEqual([
      { request_id: "r1", amount_micros: -1_250_000, key_id: key.id, note: "grok-4", balance_after_micros: 8_750_000 },
    ]);
    const row = sql(db).query<{ created_at: number }, []>("SELECT created_at FROM ledger_entries WHERE kind = 'charge'").get()!;
    expect(row.created_at).toBe(clock.now());
    expect(keySpent(db, key.id)).toBe(1_250_000);
    expect(await checkLedger(db)).toEqual([]);
    expect(persistedHolds(db)).toBe(0);
  });

  test("settling twice is a no-op, and so is releasing after a settle", async () => {
    const { db, store, acc } = setup();
    store.reserve({ accountId: acc, requestId: "r1", amount: USD });
    const first = store.settle("r1", 500_000);
    const second = store.settle("r1", 500_000);
    expect(await first).toEqual({ charged: 500_000, released: 500_000 });
    expect(await second).toBeNull();
    expect(await store.settle("r1", 500_000)).toBeNull();
    expect(await store.release("r1")).toBe(false);
    expect(charges(db)).toHaveLength(1);
    expect(store.balance(acc).balance).toBe(9_500_000);
  });

  test("settling more than the hold charges all of it: the overage may take the balance below zero, then nothing more is held", async () => {
    const { db, store, acc } = setup();
    store.reserve({ accountId: acc, requestId: "r1", amount: USD });
    expect(await store.settle("r1", 12 * USD)).toEqual({ charged: 12 * USD, released: 0 });
    expect(store.balance(acc)).toEqual({ balance: -2 * USD, held: 0, available: -2 * USD });
    expect(charges(db)[0]!.amount_micros).toBe(-12 * USD);
    expect(() => store.reserve({ accountId: acc, requestId: "r2", amount: 1 })).toThrow(/run out of credits/);
    expect(await checkLedger(db)).toEqual([]);
  });

  test("settling 0 (or a negative amount) charges nothing and writes no charge row", async () => {
    const { db, store, acc } = setup();
    store.reserve({ accountId: acc, requestId: "r1", amount: USD });
    store.reserve({ accountId: acc, requestId: "r2", amount: USD });
    expect(await store.settle("r1", 0)).toEqual({ charged: 0, released: USD });
    expect(await store.settle("r2", -5)).toEqual({ charged: 0, released: USD });
    expect(charges(db)).toEqual([]);
    expect(store.balance(acc)).toEqual({ balance: 10 * USD, held: 0, available: 10 * USD });
  });

  test("a non-integer charge is refused and leaves the hold in place", async () => {
    const { store, acc } = setup();
    store.reserve({ accountId: acc, requestId: "r1", amount: USD });
    expect(() => store.settle("r1", 0.5)).toThrow(TypeError);
    expect(store.balance(acc).held).toBe(USD);
    expect(await store.settle("r1", 1)).toEqual({ charged: 1, released: USD - 1 });
  });

  test("release returns the hold; releasing twice or settling after it is a no-op", async () => {
    const { db, store, acc } = setup();
    store.reserve({ accountId: acc, requestId: "r1", amount: 3 * USD });
    const a = store.release("r1");
    const b = store.release("r1");
    expect(await a).toBe(true);
    expect(await b).toBe(false);
    expect(await store.settle("r1", USD)).toBeNull();
    expect(store.balance(acc)).toEqual({ balance: 10 * USD, held: 0, available: 10 * USD });
    expect(charges(db)).toEqual([]);
    expect(await store.release("never-held")).toBe(false);
    expect(await store.settle("never-held", 5)).toBeNull();
  });

  test("a hold keeps counting until its settlement has committed", async () => {
    const { db, store, acc } = setup(2 * USD);
    store.reserve({ accountId: acc, requestId: "r1", amount: 2 * USD });
    const p = store.settle("r1", USD);
    // Not committed yet: the balance is unchanged and the whole hold still counts.
    expect(store.balance(acc)).toEqual({ balance: 2 * USD, held: 2 * USD, available: 0 });
    expect(apiErrorOf(() => store.reserve({ accountId: acc, requestId: "r2", amount: 1 })).status).toBe(402);
    expect(charges(db)).toEqual([]);
    await p;
    expect(store.balance(acc)).toEqual({ balance: USD, held: 0, available: USD });
  });

  test("settle and release write the usage row in the same transaction", async () => {
    const { db, store, acc } = setup();
    store.reserve({ accountId: acc, requestId: "r1", amount: USD });
    store.reserve({ accountId: acc, requestId: "r2", amount: USD });
    await Promise.all([
      store.settle("r1", 1234, { usage: usage("r1", acc, 1234) }),
      store.release("r2", { usage: usage("r2", acc, 0) }),
    ]);
    const rows = sql(db).query<{ request_id: string; cost_micros: number }, []>("SELECT request_id, cost_micros FROM usage_log ORDER BY request_id").all();
    expect(rows).toEqual([{ request_id: "r1", cost_micros: 1234 }, { request_id: "r2", cost_micros: 0 }]);
  });

  test("settlements of one event-loop turn commit in one transaction", async () => {
    const { db, store, acc } = setup(100 * USD);
    for (let i = 0; i < 50; i++) store.reserve({ accountId: acc, requestId: `r${i}`, amount: USD });
    await store.flush();
    const transactions = countTransactions(db);
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.settle(`r${i}`, 1000)));
      expect(results.every((r) => r?.charged === 1000)).toBe(true);
      expect(transactions.count).toBe(1);
    } finally {
      transactions.restore();
    }
    expect(store.balance(acc).balance).toBe(100 * USD - 50_000);
  });

  test("a charge for a request id that was already charged is never posted twice", async () => {
    const { db, store, acc } = setup();
    store.reserve({ accountId: acc, requestId: "dup", amount: USD });
    await store.settle("dup", 400_000);
    // A (buggy) caller reusing the request id gets a hold but no second charge.
    store.reserve({ accountId: acc, requestId: "dup", amount: USD });
    expect(await store.settle("dup", 400_000)).toEqual({ charged: 0, released: USD });
    expect(charges(db)).toHaveLength(1);
    expect(store.balance(acc)).toEqual({ balance: 9_600_000, held: 0, available: 9_600_000 });
    expect(await checkLedger(db)).toEqual([]);
  });
});

describe("expiry, recovery and flushing", () => {
  test("the sweeper releases only holds past their expiry (injected clock)", async () => {
    const { store, acc, clock } = setup();
    store.reserve({ accountId: acc, requestId: "short", amount: USD, ttlMs: 1_000 });
    store.reserve({ accountId: acc, requestId: "default", amount: USD });
    expect(await store.sweep()).toBe(0);
    clock.advance(1_000);
    expect(await store.sweep()).toBe(1);
    expect(store.balance(acc).held).toBe(USD);
    expect(await store.settle("short", USD)).toBeNull();
    clock.advance(59_000);
    expect(await store.sweep()).toBe(1);
    expect(store.balance(acc)).toEqual({ balance: 10 * USD, held: 0, available: 10 * USD });
    expect(store.openHolds).toBe(0);
    expect(await store.sweep(clock.now() + 1e9)).toBe(0);
  });

  test("holds are persisted write-behind and a new process releases them on recover()", async () => {
    const dir = await import("node:fs/promises").then((fs) => fs.mkdtemp("/tmp/tollgate-cs-"));
    const path = `${dir}/t.db`;
    const db1 = freshDb(path);
    const acc = seedAccount(db1, 10 * USD);
    const s1 = new SqliteCreditStore(db1, { holdTtlMs: 60_000 });
    s1.reserve({ accountId: acc, requestId: "a", amount: USD });
    s1.reserve({ accountId: acc, requestId: "b", amount: 2 * USD });
    expect(persistedHeld(db1, acc)).toBe(0);
    await s1.flush();
    expect(persistedHeld(db1, acc)).toBe(3 * USD);
    db1.sqlite.close(); // the process dies with its holds open

    const db2 = freshDb(path);
    const s2 = new SqliteCreditStore(db2, { holdTtlMs: 60_000 });
    expect(s2.recover()).toBe(2);
    expect(persistedHeld(db2, acc)).toBe(0);
    expect(s2.balance(acc)).toEqual({ balance: 10 * USD, held: 0, available: 10 * USD });
    expect(s2.recover()).toBe(0);
    db2.sqlite.close();
    await import("node:fs/promises").then((fs) => fs.rm(dir, { recursive: true }));
  });

  test("flush commits queued settlements without waiting for the next turn", async () => {
    const { db, store, acc } = setup();
    store.reserve({ accountId: acc, requestId: "r1", amount: USD });
    const p = store.settle("r1", USD);
    await store.flush();
    expect(charges(db)).toHaveLength(1);
    expect(await p).toEqual({ charged: USD, released: 0 });
    await tick(); // the scheduled commit finds nothing left to do
    expect(charges(db)).toHaveLength(1);
  });
});

describe("a failing commit", () => {
  const failCharges = (db: SqliteStore) =>
    db.sqlite.exec(
      "CREATE TEMP TRIGGER fail_charge BEFORE INSERT ON ledger_entries WHEN NEW.kind = 'charge' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
    );
  const healCharges = (db: SqliteStore) => db.sqlite.exec("DROP TRIGGER temp.fail_charge");

  test("rejects the settlement, writes nothing and keeps the hold for a retry", async () => {
    const { db, store, acc } = setup();
    store.reserve({ accountId: acc, requestId: "r1", amount: USD });
    await store.flush();
    failCharges(db);
    const originalError = console.error;
    console.error = () => {};
    try {
      const e = await rejectionOf(store.settle("r1", 700_000));
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).status).toBe(500);
    } finally {
      console.error = originalError;
    }
    expect(charges(db)).toEqual([]);
    expect(store.balance(acc)).toEqual({ balance: 10 * USD, held: USD, available: 9 * USD });
    expect(store.openHolds).toBe(1);
    expect(persistedHolds(db)).toBe(1);
    healCharges(db);
    expect(await store.settle("r1", 700_000)).toEqual({ charged: 700_000, released: 300_000 });
    expect(store.balance(acc)).toEqual({ balance: 9_300_000, held: 0, available: 9_300_000 });
    expect(await checkLedger(db)).toEqual([]);
  });

  test("the sweeper never rejects (it runs from a timer): a failed release is restored for the next sweep", async () => {
    const { db, store, acc, clock } = setup();
    store.reserve({ accountId: acc, requestId: "r1", amount: USD, ttlMs: 1000 });
    await store.flush();
    db.sqlite.exec("CREATE TEMP TRIGGER fail_release BEFORE DELETE ON credit_holds BEGIN SELECT RAISE(ABORT, 'nope'); END");
    clock.advance(1000);
    const originalError = console.error;
    console.error = () => {};
    try {
      expect(await store.sweep()).toBe(0);
    } finally {
      console.error = originalError;
    }
    expect(store.balance(acc).held).toBe(USD);
    db.sqlite.exec("DROP TRIGGER temp.fail_release");
    expect(await store.sweep()).toBe(1);
    expect(store.balance(acc).held).toBe(0);
  });

  test("one failing settlement does not fail the others committed with it", async () => {
    const { db, store, acc } = setup();
    const other = seedAccount(db, 10 * USD, "Other");
    store.reserve({ accountId: acc, requestId: "bad", amount: USD });
    store.reserve({ accountId: other, requestId: "good", amount: USD });
    store.reserve({ accountId: other, requestId: "free", amount: USD });
    await store.flush();
    // Only charges of `acc` fail (e.g. a constraint hit by one row).
    db.sqlite.exec(
      `CREATE TEMP TRIGGER fail_one BEFORE INSERT ON ledger_entries WHEN NEW.account_id = '${acc}' BEGIN SELECT RAISE(ABORT, 'boom'); END`,
    );
    const originalError = console.error;
    console.error = () => {};
    try {
      const [bad, good, free] = await Promise.allSettled([store.settle("bad", 10), store.settle("good", 20), store.release("free")]);
      expect(bad.status).toBe("rejected");
      expect(good).toEqual({ status: "fulfilled", value: { charged: 20, released: USD - 20 } });
      expect(free).toEqual({ status: "fulfilled", value: true });
    } finally {
      console.error = originalError;
    }
    expect(store.balance(other)).toEqual({ balance: 10 * USD - 20, held: 0, available: 10 * USD - 20 });
    expect(store.balance(acc).held).toBe(USD);
    expect(await checkLedger(db)).toEqual([]);
  });
});

describe("a busy database", () => {
  test("fails the whole batch at once (no one-by-one retries) and keeps every hold", async () => {
    const dir = await import("node:fs/promises").then((fs) => fs.mkdtemp("/tmp/tollgate-cs-"));
    const db = freshDb(`${dir}/t.db`);
    const acc = seedAccount(db, 10 * USD);
    const store = new SqliteCreditStore(db, { holdTtlMs: 60_000 });
    for (const id of ["a", "b", "c"]) store.reserve({ accountId: acc, requestId: id, amount: USD });
    await store.flush();
    db.sqlite.exec("PRAGMA busy_timeout = 0");
    const other = freshDb(`${dir}/t.db`);
    other.sqlite.exec("BEGIN IMMEDIATE"); // another process (the CLI) holds the write lock
    const originalError = console.error;
    console.error = () => {};
    const transactions = countTransactions(db);
    let outcomes: PromiseSettledResult<unknown>[];
    try {
      outcomes = await Promise.allSettled([store.settle("a", 1), store.settle("b", 2), store.release("c")]);
      expect(transactions.count).toBe(1);
    } finally {
      transactions.restore();
      console.error = originalError;
      other.sqlite.exec("ROLLBACK");
      other.sqlite.close();
    }
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect(store.balance(acc)).toEqual({ balance: 10 * USD, held: 3 * USD, available: 7 * USD });
    expect(await Promise.all([store.settle("a", 1), store.settle("b", 2), store.release("c")])).toEqual([
      { charged: 1, released: USD - 1 },
      { charged: 2, released: USD - 2 },
      true,
    ]);
    expect(store.balance(acc)).toEqual({ balance: 10 * USD - 3, held: 0, available: 10 * USD - 3 });
    db.sqlite.close();
    await import("node:fs/promises").then((fs) => fs.rm(dir, { recursive: true }));
  });
});

test("a request id stays busy while its settlement is queued", async () => {
  const { store, acc } = setup();
  store.reserve({ accountId: acc, requestId: "r1", amount: USD });
  const p = store.settle("r1", 5);
  expect(apiErrorOf(() => store.reserve({ accountId: acc, requestId: "r1", amount: USD })).status).toBe(409);
  await p;
  store.reserve({ accountId: acc, requestId: "r1", amount: USD });
  expect(store.balance(acc).held).toBe(USD);
});

test("200 simultaneous reservations against a balance covering exactly 10 admit exactly 10", async () => {
  const HOLD = 250_000;
  const { db, store, acc } = setup(10 * HOLD);
  const { row: key } = seedKey(db, acc);
  const attempts = Array.from({ length: 200 }, async (_, i) => {
    // Each attempt starts in its own task, as concurrent requests do.
    await tick();
    store.reserve({ accountId: acc, keyId: key.id, requestId: `req_${i}`, amount: HOLD });
    return `req_${i}`;
  });
  const outcomes = await Promise.allSettled(attempts);
  const admitted = outcomes.filter((o) => o.status === "fulfilled").map((o) => (o as PromiseFulfilledResult<string>).value);
  const refused = outcomes.filter((o) => o.status === "rejected").map((o) => (o as PromiseRejectedResult).reason);
  expect(admitted).toHaveLength(10);
  expect(refused).toHaveLength(190);
  for (const e of refused) {
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(402);
  }
  expect(store.balance(acc)).toEqual({ balance: 10 * HOLD, held: 10 * HOLD, available: 0 });
  // The admitted requests all charge their full hold, concurrently.
  const settled = await Promise.all(admitted.map((id) => store.settle(id, HOLD)));
  expect(settled.every((s) => s?.charged === HOLD)).toBe(true);
  expect(store.balance(acc)).toEqual({ balance: 0, held: 0, available: 0 });
  expect(charges(db)).toHaveLength(10);
  expect(await checkLedger(db)).toEqual([]);
});

describe("property: interleaved concurrent operations keep the money invariants", () => {
  type Cmd =
    | { t: "reserve"; acc: number; key: number; amount: number; ttl: number | null; reuse: number | null }
    | { t: "settle"; pick: number; actual: number }
    | { t: "release"; pick: number }
    | { t: "sweep"; advance: number }
    | { t: "topup"; acc: number; amount: number }
    | { t: "adjust"; acc: number; amount: number }
    | { t: "burst"; n: number; acc: number; key: number; amount: number; actual: number }
    | { t: "tick" }
    | { t: "sleep"; ms: number }
    | { t: "flush" }
    | { t: "await" };

  const ACCOUNTS = 3;
  const acc = fc.integer({ min: 0, max: ACCOUNTS - 1 });
  const key = fc.integer({ min: 0, max: 2 }); // 0: no cap, 1: capped, 2: no key
  const amount = fc.integer({ min: 0, max: 2 * USD });
  const cmd: fc.Arbitrary<Cmd> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ t: fc.constant("reserve" as const), acc, key, amount, ttl: fc.option(fc.integer({ min: 1, max: 20_000 })), reuse: fc.option(fc.nat(), { freq: 8 }) }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant("settle" as const), pick: fc.nat(), actual: fc.integer({ min: -1000, max: 3 * USD }) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant("release" as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("sweep" as const), advance: fc.integer({ min: 0, max: 15_000 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("topup" as const), acc, amount: fc.integer({ min: 1, max: 5 * USD }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("adjust" as const), acc, amount: fc.integer({ min: 1, max: 5 * USD }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("burst" as const), n: fc.integer({ min: 2, max: 30 }), acc, key, amount, actual: fc.integer({ min: 0, max: 2 * USD }) }) },
    { weight: 2, arbitrary: fc.constant({ t: "tick" as const }) },
    // Long enough for the batch timer (1 ms in the journaled runs) and its next slices to run.
    { weight: 3, arbitrary: fc.record({ t: fc.constant("sleep" as const), ms: fc.integer({ min: 1, max: 6 }) }) },
    { weight: 1, arbitrary: fc.constant({ t: "flush" as const }) },
    { weight: 1, arbitrary: fc.constant({ t: "await" as const }) },
  );

  interface MHold {
    id: string;
    acc: number;
    keyId: string | null;
    amount: number;
    expiresAt: number;
  }

  async function run(initial: number[], caps: number[], cmds: Cmd[], journaled = false): Promise<void> {
    const db = freshDb();
    const clock = manualClock();
    const TTL = 10_000;
    const dir = journaled ? mkdtempSync(join(tmpdir(), "tollgate-journal-prop-")) : null;
    const journal = dir ? SettleJournal.open(join(dir, "settlements")) : undefined;
    // Slices of 1: batches written over several event-loop turns, interleaved with the commands.
    const store = new SqliteCreditStore(db, { holdTtlMs: TTL, now: clock.now, journal, applyMs: 1, applySlice: 1 });
    const accounts = initial.map((c, i) => seedAccount(db, c, `A${i}`));
    const keys = accounts.map((a, i) => [seedKey(db, a).row.id, seedKey(db, a, { spend_cap_micros: caps[i]! }).row.id]);
    const cap = new Map(keys.map((k, i) => [k[1]!, caps[i]!]));

    // The model: what the store must report at every observation.
    const balance = [...initial];
    const spent = new Map<string, number>();
    const open = new Map<string, MHold>();
    const pending = new Map<string, MHold>();
    const issued: string[] = [];
    const charged = new Map<string, number>(); // request id -> the one charge it may have
    /** Accounts and keys charged beyond a hold at least once (their available credit may be below zero). */
    const overdrawn = new Set<number | string>();
    const inflight: Promise<unknown>[] = [];
    let nextId = 0;
    let credited = initial.reduce((a, b) => a + b, 0);

    const holdsOf = (pred: (h: MHold) => boolean) => {
      let sum = 0;
      for (const h of open.values()) if (pred(h)) sum += h.amount;
      for (const h of pending.values()) if (pred(h)) sum += h.amount;
      return sum;
    };
    const held = (a: number) => holdsOf((h) => h.acc === a);
    const keyHeld = (k: string) => holdsOf((h) => h.keyId === k);

    let observations = 0;
    function observe(where: string) {
      // Journaled: the store's own figures must already count charges SQLite has not seen yet;
      // SQLite itself is compared (after catching up, as every reader in the process does) only
      // every third time, so that unapplied charges also live across commands.
      const readDb = !journaled || observations++ % 3 === 0 || where === "at the end";
      for (let a = 0; a < ACCOUNTS; a++) {
        const b = store.balance(accounts[a]!);
        const want = { balance: balance[a]!, held: held(a), available: balance[a]! - held(a) };
        if (b.balance !== want.balance || b.held !== want.held) {
          throw new Error(`${where}: account ${a}: store ${JSON.stringify(b)} != model ${JSON.stringify(want)}`);
        }
        // Only an overage (a charge above its hold) may take the available credit below zero.
        if (b.available < 0 && !overdrawn.has(a)) throw new Error(`${where}: account ${a}: available ${b.available} < 0`);
      }
      for (const [k, c] of cap) {
        const s = store.keySpend(k)!.spent;
        if (s !== (spent.get(k) ?? 0)) throw new Error(`${where}: store key spent ${s} != model ${spent.get(k) ?? 0}`);
      }
      if (!readDb) return;
      db.catchUp();
      for (const [k, c] of cap) {
        const s = keySpent(db, k);
        if (s !== (spent.get(k) ?? 0)) throw new Error(`${where}: key spent ${s} != model ${spent.get(k) ?? 0}`);
        if (s > c && !overdrawn.has(k)) throw new Error(`${where}: key spent ${s} above cap ${c}`);
      }
      const bad = checkLedgerSync(db);
      if (bad.length) throw new Error(`${where}: balance != sum of ledger: ${JSON.stringify(bad)}`);
    }

    function doReserve(a: number, k: number, amt: number, ttl: number | null, reuse: number | null): string | null {
      const id = reuse !== null && issued.length ? issued[reuse % issued.length]! : `r${nextId++}`;
      const keyId = k === 2 ? null : keys[a]![k]!;
      let expected: number | null = null;
      if (open.has(id) || pending.has(id)) expected = 409;
      else if (balance[a]! - held(a) < amt) expected = 402;
      else if (keyId && cap.has(keyId) && (spent.get(keyId) ?? 0) + keyHeld(keyId) + amt > cap.get(keyId)!) expected = 402;
      let got: number | null = null;
      try {
        store.reserve({ accountId: accounts[a]!, keyId, requestId: id, amount: amt, ttlMs: ttl ?? undefined });
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        got = e.status;
      }
      if (got !== expected) throw new Error(`reserve ${id} of ${amt} for account ${a}: got ${got}, expected ${expected}`);
      if (got !== null) return null;
      if (!issued.includes(id)) issued.push(id);
      open.set(id, { id, acc: a, keyId, amount: amt, expiresAt: clock.now() + (ttl ?? TTL) });
      return id;
    }

    function doSettle(id: string, actual: number | "release"): Promise<unknown> {
      const h = open.get(id);
      if (!h) {
        const p = actual === "release" ? store.release(id) : store.settle(id, actual);
        return p.then((r) => {
          if (r !== (actual === "release" ? false : null)) throw new Error(`second settle/release of ${id} returned ${JSON.stringify(r)}`);
        });
      }
      open.delete(id);
      pending.set(id, h);
      if (actual === "release") {
        return store.release(id).then((r) => {
          if (r !== true) throw new Error(`release of ${id} returned ${r}`);
          pending.delete(id);
        });
      }
      // One charge per request id, ever: a reused id that was charged before is not charged again.
      // All of it, beyond the hold too (the overage).
      const c = charged.has(id) ? 0 : Math.max(actual, 0);
      if (c > 0) charged.set(id, c);
      if (c > h.amount) {
        overdrawn.add(h.acc);
        if (h.keyId) overdrawn.add(h.keyId);
      }
      return store.settle(id, actual).then((r) => {
        if (r?.charged !== c || r.released !== Math.max(0, h.amount - c)) {
          throw new Error(`settle ${id} (hold ${h.amount}, actual ${actual}): got ${JSON.stringify(r)}, expected charge ${c}`);
        }
        pending.delete(id);
        balance[h.acc]! -= c;
        if (h.keyId) spent.set(h.keyId, (spent.get(h.keyId) ?? 0) + c);
      });
    }

    const pick = (n: number) => (issued.length ? issued[n % issued.length]! : "unknown");

    for (const [i, c] of cmds.entries()) {
      switch (c.t) {
        case "reserve":
          doReserve(c.acc, c.key, c.amount, c.ttl, c.reuse);
          break;
        case "settle":
          inflight.push(doSettle(pick(c.pick), c.actual));
          break;
        case "release":
          inflight.push(doSettle(pick(c.pick), "release"));
          break;
        case "sweep": {
          const now = clock.advance(c.advance);
          const expired = [...open.values()].filter((h) => h.expiresAt <= now);
          for (const h of expired) {
            open.delete(h.id);
            pending.set(h.id, h);
          }
          const n = await store.sweep();
          for (const h of expired) pending.delete(h.id);
          if (n !== expired.length) throw new Error(`sweep released ${n}, expected ${expired.length}`);
          break;
        }
        case "topup":
        case "adjust": {
          const amt = c.t === "topup" ? c.amount : -c.amount;
          const ok = amt > 0 || balance[c.acc]! - held(c.acc) + amt >= 0;
          try {
            await postCredit(db, { accountId: accounts[c.acc]!, amountMicros: amt, actor: "test", heldMicros: store.balance(accounts[c.acc]!).held });
            if (!ok) throw new Error(`adjustment ${amt} admitted beyond the available credit`);
            balance[c.acc]! += amt;
            credited += amt;
          } catch (e) {
            if (!(e instanceof ApiError) || e.status !== 400 || ok) throw e;
          }
          break;
        }
        case "burst":
          // Concurrent requests: each reserves in its own task, then settles in a later one.
          for (let j = 0; j < c.n; j++) {
            inflight.push(
              (async () => {
                await tick();
                const id = doReserve(c.acc, c.key, c.amount, null, null);
                if (!id) return;
                await tick();
                await doSettle(id, j % 4 === 0 ? "release" : c.actual);
              })(),
            );
          }
          break;
        case "tick":
          await tick();
          break;
        case "sleep":
          await Bun.sleep(c.ms);
          break;
        case "flush":
          await store.flush();
          break;
        case "await":
          await Promise.all(inflight.splice(0));
          break;
      }
      observe(`after command ${i} (${c.t})`);
    }

    // Every request ends: settle or release what is still open, then wait for everything.
    while (inflight.length || open.size) {
      for (const [j, id] of [...open.keys()].entries()) inflight.push(doSettle(id, j % 2 ? "release" : USD / 2));
      await Promise.all(inflight.splice(0));
    }
    if (journal) {
      // The batch timer alone writes the rest, a slice per turn, and then empties the journal.
      const deadline = Date.now() + 5_000;
      while (journal.bytes > 0 && Date.now() < deadline) await Bun.sleep(1);
      expect(journal.bytes).toBe(0);
    }
    await store.flush();
    observe("at the end");

    expect(store.openHolds).toBe(0);
    expect(persistedHolds(db)).toBe(0);
    const dup = sql(db).query("SELECT request_id FROM ledger_entries WHERE kind = 'charge' GROUP BY request_id HAVING count(*) > 1").all();
    expect(dup).toEqual([]);
    const rows = charges(db);
    expect(rows.length).toBe(charged.size);
    let totalCharged = 0;
    for (const r of rows) {
      expect(-r.amount_micros).toBe(charged.get(r.request_id)!);
      totalCharged -= r.amount_micros;
    }
    const balances = accounts.map((a) => store.balance(a).balance);
    expect(balances.reduce((x, y) => x + y, 0)).toBe(credited - totalCharged);
    for (const [k] of cap) {
      const byKey = rows.filter((r) => r.key_id === k).reduce((s, r) => s - r.amount_micros, 0);
      expect(keySpent(db, k)).toBe(byKey);
    }
    if (journal) {
      // Flushed: everything is in SQLite and the journal is empty again.
      expect(journal.bytes).toBe(0);
      journal.close();
      rmSync(dir!, { recursive: true, force: true });
    }
    db.sqlite.close();
  }

  /** One scenario: opening balances, the capped keys' caps, and the commands. */
  const scenario = [
    fc.array(fc.integer({ min: 0, max: 5 * USD }), { minLength: ACCOUNTS, maxLength: ACCOUNTS }),
    fc.array(fc.integer({ min: 1, max: 3 * USD }), { minLength: ACCOUNTS, maxLength: ACCOUNTS }),
    fc.array(cmd, { minLength: 1, maxLength: 60 }),
  ] as const;

  test("hundreds of random sequences", async () => {
    await fc.assert(fc.asyncProperty(...scenario, (initial, caps, cmds) => run(initial, caps, cmds)), { numRuns: 300 });
  });

  test("hundreds of random sequences, settlements journaled and written to SQLite in batches", async () => {
    // Counts the batch timer's slices that left more behind: the runs must have written backlogs
    // over several event-loop turns, with commands in between, not only all at once.
    const proto = SettleSink.prototype as unknown as { writeOldest(this: SettleSink, max: number): boolean };
    const original = proto.writeOldest;
    let partial = 0;
    proto.writeOldest = function (max) {
      const ok = original.call(this, max);
      if (Number.isFinite(max) && this.unapplied.size > 0) partial++;
      return ok;
    };
    try {
      await fc.assert(fc.asyncProperty(...scenario, (initial, caps, cmds) => run(initial, caps, cmds, true)), { numRuns: 200 });
    } finally {
      proto.writeOldest = original;
    }
    expect(partial).toBeGreaterThan(0);
  });
});
