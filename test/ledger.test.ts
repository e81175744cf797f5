import { describe, expect, test } from "bun:test";
import { ApiError } from "../src/lib/errors";
import { usdToMicros, microsToUsd } from "../src/money/units";
import { getAccountRow } from "../src/modules/accounts/service";
import { listAudit } from "../src/modules/audit/service";
import { SqliteCreditStore } from "../src/money/sqlite-credit-store";
import { checkLedger, ledgerView, listLedger, postCredit } from "../src/money/ledger";
import { persistedHeld } from "./support/held-rows";
import { SqliteStore } from "../src/store/sqlite-store";
import { checkAdminToken } from "../src/identity/admin-token";
import { sha256Hex } from "../src/lib/crypto";
import { freshDb, rejectionOf, seedAccount } from "./support/foundation";

const USD = 1_000_000;

function setup() {
  const db = freshDb();
  const acc = seedAccount(db, 0);
  return { db, acc };
}

describe("postCredit", () => {
  test("a top-up adds to the balance and lifetime top-ups, with a ledger entry and an audit row", async () => {
    const { db, acc } = setup();
    const now = Date.UTC(2030, 0, 1);
    const { entry, replayed } = await postCredit(db, { accountId: acc, amountMicros: 5 * USD, note: "invoice 7", actor: "admin", heldMicros: 0 }, now);
    expect(replayed).toBe(false);
    expect(entry).toEqual({
      id: expect.any(Number),
      object: "ledger_entry",
      account_id: acc,
      kind: "topup",
      amount_micros: 5 * USD,
      amount_usd: "5",
      balance_after_micros: 5 * USD,
      request_id: null,
      key_id: null,
      note: "invoice 7",
      created_at: now / 1000,
    });
    const row = (await getAccountRow(db, acc));
    expect(row.balanceMicros).toBe(5 * USD);
    expect(row.lifetimeTopupMicros).toBe(5 * USD);
    const [a] = (await listAudit(db, { limit: 1, targetId: acc }));
    expect(a).toMatchObject({
      actor: "admin",
      action: "credits.topup",
      targetType: "account",
      targetId: acc,
      before: { balance_micros: 0 },
      after: { balance_micros: 5 * USD, amount_micros: 5 * USD, note: "invoice 7", ledger_id: entry.id },
      createdAt: now,
    });
  });

  test("a negative amount is an adjustment: lowers the balance, not the lifetime top-ups", async () => {
    const { db, acc } = setup();
    await postCredit(db, { accountId: acc, amountMicros: 5 * USD, actor: "admin", heldMicros: 0 });
    const { entry } = await postCredit(db, { accountId: acc, amountMicros: -1_500_000, actor: "admin", heldMicros: 0 });
    expect(entry.kind).toBe("adjustment");
    expect(entry.amount_usd).toBe("-1.5");
    expect(entry.balance_after_micros).toBe(3_500_000);
    expect((await getAccountRow(db, acc))).toMatchObject({ balanceMicros: 3_500_000, lifetimeTopupMicros: 5 * USD });
    expect((await listAudit(db, { limit: 1, targetId: acc }))[0]!.action).toBe("credits.adjustment");
  });

  test("an adjustment beyond the available credit (balance minus holds) is 400 and writes nothing", async () => {
    const { db, acc } = setup();
    await postCredit(db, { accountId: acc, amountMicros: 5 * USD, actor: "admin", heldMicros: 0 });
    const audits = (await listAudit(db, { limit: 100 })).length;
    const e = (await rejectionOf(postCredit(db, { accountId: acc, amountMicros: -4 * USD, actor: "admin", heldMicros: 2 * USD }))) as ApiError;
    expect(e.status).toBe(400);
    expect(e.param).toBe("amount_micros");
    expect(e.code).toBe("insufficient_available_credit");
    expect(e.message).toContain("3 USD");
    expect((await getAccountRow(db, acc)).balanceMicros).toBe(5 * USD);
    expect((await listLedger(db, acc, { limit: 10 }))).toHaveLength(1);
    expect((await listAudit(db, { limit: 100 }))).toHaveLength(audits);
    // Exactly the available credit may be taken away.
    await postCredit(db, { accountId: acc, amountMicros: -3 * USD, actor: "admin", heldMicros: 2 * USD });
    expect((await getAccountRow(db, acc)).balanceMicros).toBe(2 * USD);
  });

  test("the credit store's live holds count against adjustments", async () => {
    const { db, acc } = setup();
    await postCredit(db, { accountId: acc, amountMicros: 5 * USD, actor: "admin", heldMicros: 0 });
    const store = new SqliteCreditStore(db, { holdTtlMs: 60_000 });
    store.reserve({ accountId: acc, requestId: "r1", amount: 4 * USD });
    const held = store.balance(acc).held;
    await expect(postCredit(db, { accountId: acc, amountMicros: -2 * USD, actor: "admin", heldMicros: held })).rejects.toThrow(ApiError);
  });

  test("unknown account is 404", async () => {
    const { db } = setup();
    const e = (await rejectionOf(postCredit(db, { accountId: "acc_missing", amountMicros: 1, actor: "admin", heldMicros: 0 }))) as ApiError;
    expect(e.status).toBe(404);
  });
});

describe("idempotency", () => {
  test("the same key and body replays the first entry and credits once", async () => {
    const { db, acc } = setup();
    const p = { accountId: acc, amountMicros: 2 * USD, note: "n", actor: "admin", heldMicros: 0, idempotencyKey: "k-1" };
    const first = await postCredit(db, p);
    const second = await postCredit(db, p);
    expect(second.replayed).toBe(true);
    expect(second.entry).toEqual(first.entry);
    expect((await getAccountRow(db, acc)).balanceMicros).toBe(2 * USD);
    expect((await listLedger(db, acc, { limit: 10 }))).toHaveLength(1);
    expect((await listAudit(db, { limit: 100, targetId: acc })).filter((a) => a.action.startsWith("credits."))).toHaveLength(1);
  });

  test("the same key with another body is 409 and changes nothing", async () => {
    const { db, acc } = setup();
    await postCredit(db, { accountId: acc, amountMicros: 2 * USD, actor: "admin", heldMicros: 0, idempotencyKey: "k-1" });
    for (const change of [{ amountMicros: 3 * USD }, { note: "other" }]) {
      const e = (await rejectionOf(postCredit(db, { accountId: acc, amountMicros: 2 * USD, actor: "admin", heldMicros: 0, idempotencyKey: "k-1", ...change }))) as ApiError;
      expect(e.status).toBe(409);
      expect(e.code).toBe("idempotency_key_reused");
    }
    expect((await getAccountRow(db, acc)).balanceMicros).toBe(2 * USD);
  });

  test("keys are scoped per account, and a failed request does not burn its key", async () => {
    const { db, acc } = setup();
    const other = seedAccount(db, 0, "Other");
    await postCredit(db, { accountId: acc, amountMicros: USD, actor: "admin", heldMicros: 0, idempotencyKey: "same" });
    const r = await postCredit(db, { accountId: other, amountMicros: USD, actor: "admin", heldMicros: 0, idempotencyKey: "same" });
    expect(r.replayed).toBe(false);
    expect((await getAccountRow(db, other)).balanceMicros).toBe(USD);

    await expect(postCredit(db, { accountId: acc, amountMicros: -9 * USD, actor: "admin", heldMicros: 0, idempotencyKey: "retry" })).rejects.toThrow(ApiError);
    await postCredit(db, { accountId: acc, amountMicros: 9 * USD, actor: "admin", heldMicros: 0 });
    const retried = await postCredit(db, { accountId: acc, amountMicros: -9 * USD, actor: "admin", heldMicros: 0, idempotencyKey: "retry" });
    expect(retried.replayed).toBe(false);
    expect((await getAccountRow(db, acc)).balanceMicros).toBe(USD);
  });
});

describe("ledger listing and integrity", () => {
  test("pages newest first with `before`", async () => {
    const { db, acc } = setup();
    for (let i = 1; i <= 7; i++) await postCredit(db, { accountId: acc, amountMicros: i, actor: "admin", heldMicros: 0 });
    seedAccount(db, 99, "Other"); // entries of other accounts never show up
    const page1 = (await listLedger(db, acc, { limit: 3 }));
    expect(page1.map((r) => r.amountMicros)).toEqual([7, 6, 5]);
    const page2 = (await listLedger(db, acc, { limit: 3, before: page1.at(-1)!.id }));
    expect(page2.map((r) => r.amountMicros)).toEqual([4, 3, 2]);
    const page3 = (await listLedger(db, acc, { limit: 3, before: page2.at(-1)!.id }));
    expect(page3.map((r) => r.amountMicros)).toEqual([1]);
    expect(page1.map(ledgerView).every((v) => v.account_id === acc)).toBe(true);
  });

  test("checkLedger reports an account whose balance drifted from its entries", async () => {
    const { db, acc } = setup();
    await postCredit(db, { accountId: acc, amountMicros: 5 * USD, actor: "admin", heldMicros: 0 });
    expect(await checkLedger(db)).toEqual([]);
    db.sqlite.run("UPDATE accounts SET balance_micros = balance_micros + 1 WHERE id = ?", [acc]);
    expect(await checkLedger(db)).toEqual([{ accountId: acc, balance: 5 * USD + 1, ledgerSum: 5 * USD }]);
  });

  test("persistedHeld sums the holds another process can see", async () => {
    const { db, acc } = setup();
    await postCredit(db, { accountId: acc, amountMicros: 5 * USD, actor: "admin", heldMicros: 0 });
    const store = new SqliteCreditStore(db, { holdTtlMs: 60_000 });
    store.reserve({ accountId: acc, requestId: "a", amount: USD });
    store.reserve({ accountId: acc, requestId: "b", amount: 2 * USD });
    await store.flush();
    expect(persistedHeld(db, acc)).toBe(3 * USD);
    await store.release("a");
    expect(persistedHeld(db, acc)).toBe(2 * USD);
  });
});

describe("money helpers", () => {
  test("decimal USD strings and micros convert exactly", () => {
    expect(usdToMicros("12.5")).toBe(12_500_000);
    expect(usdToMicros("0.000001")).toBe(1);
    expect(usdToMicros("-3")).toBe(-3 * USD);
    expect(usdToMicros("-0")).toBe(0);
    expect(() => usdToMicros("0.0000001")).toThrow();
    expect(() => usdToMicros("1e3")).toThrow();
    expect(() => usdToMicros("99999999999999")).toThrow(/range/);
    expect(microsToUsd(12_500_000)).toBe("12.5");
    expect(microsToUsd(1)).toBe("0.000001");
    expect(microsToUsd(-1_500_000)).toBe("-1.5");
    expect(microsToUsd(0)).toBe("0");
    // 0.1 + 0.2 style drift cannot happen: the conversion never goes through a float fraction.
    expect(usdToMicros("0.3")).toBe(usdToMicros("0.1") + usdToMicros("0.2"));
  });
});

describe("storage", () => {
  test("WAL with a busy timeout; hot-path writes NORMAL, durable() writes FULL and restores NORMAL", async () => {
    const dir = await import("node:fs/promises").then((fs) => fs.mkdtemp("/tmp/tollgate-db-"));
    const db = freshDb(`${dir}/t.db`);
    const pragma = (name: string) => Object.values(db.sqlite.query(`PRAGMA ${name}`).get() as object)[0];
    expect(pragma("journal_mode")).toBe("wal");
    expect(pragma("busy_timeout")).toBe(5000);
    expect(pragma("synchronous")).toBe(1); // NORMAL
    expect(pragma("foreign_keys")).toBe(1);
    let inside: unknown;
    db.durable(() => {
      inside = pragma("synchronous");
    });
    expect(inside).toBe(2); // FULL while the durable transaction commits
    expect(pragma("synchronous")).toBe(1);
    expect(() =>
      db.durable(() => {
        db.sqlite.run("INSERT INTO settings (key, value) VALUES ('a', 'b')");
        throw new Error("abort");
      }),
    ).toThrow("abort");
    expect(pragma("synchronous")).toBe(1);
    expect(db.sqlite.query("SELECT count(*) AS n FROM settings").get()).toEqual({ n: 0 });
    expect(() =>
      db.write(() => {
        db.sqlite.run("INSERT INTO settings (key, value) VALUES ('a', 'b')");
        throw new Error("abort");
      }),
    ).toThrow("abort");
    expect(db.sqlite.query("SELECT count(*) AS n FROM settings").get()).toEqual({ n: 0 });
    db.sqlite.close();
    await import("node:fs/promises").then((fs) => fs.rm(dir, { recursive: true }));
  });

  test("migrations run once", () => {
    const db = freshDb();
    expect(db.migrate()).toBe(0);
  });

  test("the admin token check refuses a damaged stored digest instead of throwing", () => {
    expect(checkAdminToken("some-admin-token-1234", sha256Hex("some-admin-token-1234"))).toBe(true);
    expect(checkAdminToken("some-admin-token-1234", sha256Hex("other"))).toBe(false);
    expect(checkAdminToken("some-admin-token-1234", "abc")).toBe(false);
    expect(checkAdminToken("", sha256Hex(""))).toBe(false);
    expect(checkAdminToken(null, sha256Hex(""))).toBe(false);
  });
});

test("durable() nests: an inner durable() joins the outer transaction and rolls back with it", async () => {
  const { SqliteStore } = await import("../src/store/sqlite-store");
  const db = new SqliteStore(":memory:");
  db.migrate();
  const insert = (k: string) => db.sqlite.query("INSERT INTO settings (key, value) VALUES (?, 'v')").run(k);
  db.durable(() => {
    insert("outer");
    db.durable(() => insert("inner"));
  });
  expect(db.sqlite.query("SELECT count(*) AS n FROM settings WHERE key IN ('outer','inner')").get()).toEqual({ n: 2 });
  expect(() =>
    db.durable(() => {
      insert("outer2");
      db.durable(() => insert("inner2"));
      throw new Error("boom");
    }),
  ).toThrow("boom");
  expect(db.sqlite.query("SELECT count(*) AS n FROM settings WHERE key IN ('outer2','inner2')").get()).toEqual({ n: 0 });
});
