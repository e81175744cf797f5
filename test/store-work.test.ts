/**
 * Units of work on both stores: the same generator reads, writes, rolls back and handles a
 * failing statement on SQLite and on a real PostgreSQL; PostgreSQL re-runs a transaction that
 * lost a serialization conflict, and a NOTIFY moves every instance's change stamp.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { PgStore } from "../src/store/pg-store";
import { openStore } from "../src/store/sqlite-store";
import type { Store } from "../src/store/store";
import { all, attempt, get, rows, run, type Q, type Work } from "../src/store/work";
import { freshPostgres } from "./support/postgres";

const stores: { name: string; open: () => Promise<Store & { close(): unknown }> }[] = [
  { name: "sqlite", open: async () => openStore(":memory:") },
  { name: "postgres", open: async () => PgStore.open(await freshPostgres()) },
];

function* addAccount(q: Q, id: string, balance = 0): Work<void> {
  yield* run(q.db.insert(q.t.accounts).values({ id, name: `name ${id}`, balanceMicros: balance, createdAt: 1 }));
}

function* balanceOf(q: Q, id: string): Work<number | undefined> {
  const row = yield* get(q.db.select({ b: q.t.accounts.balanceMicros }).from(q.t.accounts).where(eq(q.t.accounts.id, id)));
  return row?.b;
}

for (const { name, open } of stores) {
  describe(`units of work on ${name}`, () => {
    let store: Store & { close(): unknown };
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });

    test("write, read back, raw rows, and the number of rows a write touched", async () => {
      await store.tx((q) => addAccount(q, "acc_a", 5));
      expect(await store.read((q) => balanceOf(q, "acc_a"))).toBe(5);
      const changed = await store.tx(function* (q) {
        return yield* run(q.db.update(q.t.accounts).set({ balanceMicros: 7 }).where(eq(q.t.accounts.id, "acc_a")));
      });
      expect(changed.changes).toBe(1);
      const raw = await store.read((q) => rows<{ id: string; n: number | string }>(sql`SELECT id, balance_micros AS n FROM accounts WHERE id = ${"acc_a"}`));
      expect(raw.map((r) => [r.id, Number(r.n)])).toEqual([["acc_a", 7]]);
      const list = await store.read((q) => all(q.db.select().from(q.t.accounts)));
      expect(list.map((a) => a.id)).toEqual(["acc_a"]);
    });

    test("a unit of work that throws commits nothing", async () => {
      const failed = store.tx(function* (q) {
        yield* addAccount(q, "acc_rolled_back");
        throw new Error("changed my mind");
      });
      expect(failed).rejects.toThrow("changed my mind");
      await failed.catch(() => {});
      expect(await store.read((q) => balanceOf(q, "acc_rolled_back"))).toBeUndefined();
    });

    test("an attempt whose statement fails is undone alone; the transaction goes on", async () => {
      await store.tx((q) => addAccount(q, "acc_dup"));
      const outcome = await store.tx(function* (q) {
        const first = yield* attempt(addAccount(q, "acc_dup"));
        yield* addAccount(q, "acc_after");
        return first.ok ? "inserted" : "duplicate";
      });
      expect(outcome).toBe("duplicate");
      expect(await store.read((q) => balanceOf(q, "acc_after"))).toBe(0);
    });

    test("a failing statement not attempted fails the whole unit of work", async () => {
      const failed = store.tx(function* (q) {
        yield* addAccount(q, "acc_partial");
        yield* addAccount(q, "acc_dup");
      });
      await expect(failed).rejects.toBeDefined();
      expect(await store.read((q) => balanceOf(q, "acc_partial"))).toBeUndefined();
    });

    test("concurrent read-modify-write transactions on one row lose no update", async () => {
      await store.tx((q) => addAccount(q, "acc_counter", 0));
      await Promise.all(
        Array.from({ length: 20 }, () =>
          store.tx(function* (q) {
            const b = (yield* balanceOf(q, "acc_counter"))!;
            yield* run(q.db.update(q.t.accounts).set({ balanceMicros: b + 1 }).where(eq(q.t.accounts.id, "acc_counter")));
          }),
        ),
      );
      expect(await store.read((q) => balanceOf(q, "acc_counter"))).toBe(20);
    });
  });
}

describe("PostgreSQL change notifications", () => {
  test("a committed notify moves every instance's change stamp; a rolled-back one does not", async () => {
    const url = await freshPostgres();
    const a = await PgStore.open(url);
    const b = await PgStore.open(url);
    try {
      await a.tx((q) => addAccount(q, "acc_n"));
      const before = b.changeStamp();
      await a.tx((q) => addAccount(q, "acc_n2"), { notify: true });
      const t0 = performance.now();
      while (b.changeStamp() === before && performance.now() - t0 < 1_000) await Bun.sleep(5);
      expect(b.changeStamp()).not.toBe(before);
      const moved = b.changeStamp();
      await a
        .tx(
          function* (q) {
            yield* addAccount(q, "acc_n3");
            throw new Error("no");
          },
          { notify: true },
        )
        .catch(() => {});
      await Bun.sleep(200);
      expect(b.changeStamp()).toBe(moved);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
