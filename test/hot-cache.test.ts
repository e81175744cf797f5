import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../src/store/sqlite-store";
import { createKey, revokeKey } from "../src/modules/keys/service";
import { KeyAuthenticator } from "../src/gateway/key-auth";
import { SqliteCreditStore } from "../src/money/sqlite-credit-store";

/**
 * The request path keeps the key and account rows it read while the database's change stamp
 * stays the same (no SQLite read per request). A write on the gateway's connection is
 * seen by the very next request; a commit by another process (the CLI) from the next event-loop
 * turn on. Two connections on one file play the gateway and the CLI.
 */
const dir = mkdtempSync(join(tmpdir(), "tollgate-hot-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

function open(name: string): { gateway: SqliteStore; cli: SqliteStore } {
  const path = join(dir, `${name}.db`);
  const gateway = new SqliteStore(path);
  gateway.migrate();
  return { gateway, cli: new SqliteStore(path) };
}

function account(db: SqliteStore, id: string, balance: number): void {
  db.sqlite.query("INSERT INTO accounts (id, name, balance_micros, created_at) VALUES (?, ?, ?, 0)").run(id, id, balance);
}

describe("change stamp", () => {
  test("moves on a write of this connection at once, and on another connection's commit from the next turn", async () => {
    const { gateway, cli } = open("stamp");
    const a = gateway.changeStamp();
    expect(gateway.changeStamp()).toBe(a);
    account(gateway, "acc_1", 0);
    const b = gateway.changeStamp();
    expect(b).not.toBe(a);
    await nextTurn();
    expect(gateway.changeStamp()).toBe(b);
    account(cli, "acc_2", 0);
    await nextTurn();
    expect(gateway.changeStamp()).not.toBe(b);
  });

  test("a DELETE without WHERE (which SQLite's update hook does not report) moves it from the next turn at the latest", async () => {
    const { gateway } = open("truncate");
    account(gateway, "acc_1", 0);
    await nextTurn();
    const a = gateway.changeStamp();
    await nextTurn();
    expect(gateway.changeStamp()).toBe(a);
    gateway.sqlite.exec("DELETE FROM accounts");
    await nextTurn();
    expect(gateway.changeStamp()).not.toBe(a);
  });

  test("an absorbed write keeps it; one after another write, or one that wrote before failing, moves it", async () => {
    const { gateway } = open("absorbed");
    account(gateway, "acc_1", 0);
    const a = gateway.changeStamp();
    gateway.absorbedWrite(() => gateway.write(() => account(gateway, "acc_2", 0)));
    expect(gateway.changeStamp()).toBe(a);
    await nextTurn();
    expect(gateway.changeStamp()).toBe(a);
    account(gateway, "acc_3", 0);
    gateway.absorbedWrite(() => gateway.write(() => account(gateway, "acc_4", 0)));
    const b = gateway.changeStamp();
    expect(b).not.toBe(a);
    expect(() => gateway.absorbedWrite(() => gateway.write(() => account(gateway, "acc_4", 0)))).toThrow();
    expect(gateway.changeStamp()).toBe(b);
    expect(() =>
      gateway.absorbedWrite(() =>
        gateway.write(() => {
          account(gateway, "acc_5", 0);
          account(gateway, "acc_5", 0);
        }),
      ),
    ).toThrow();
    expect(gateway.changeStamp()).not.toBe(b);
  });
});

describe("key authentication", () => {
  test("a revocation here or by another process applies to the next request", async () => {
    const { gateway, cli } = open("keys");
    account(gateway, "acc_k", 0);
    const keys = new KeyAuthenticator(gateway);
    const one = await createKey(gateway, "sk-", "acc_k", {}, "admin");
    const two = await createKey(gateway, "sk-", "acc_k", {}, "admin");
    expect(keys.authenticate(one.key).keyId).toBe(one.row.id);
    expect(keys.authenticate(one.key).keyId).toBe(one.row.id);
    await revokeKey(gateway, one.row.id, "admin");
    expect(() => keys.authenticate(one.key)).toThrow("revoked");

    expect(keys.authenticate(two.key).keyId).toBe(two.row.id);
    await nextTurn();
    await revokeKey(cli, two.row.id, "cli");
    await nextTurn();
    expect(() => keys.authenticate(two.key)).toThrow("revoked");
  });

  test("suspension by another process and the key's spend after settlements are seen", async () => {
    const { gateway, cli } = open("suspend");
    account(gateway, "acc_s", 5_000_000);
    const keys = new KeyAuthenticator(gateway);
    const store = new SqliteCreditStore(gateway, { holdTtlMs: 60_000 });
    const k = await createKey(gateway, "sk-", "acc_s", { spend_cap_micros: 1_000_000 }, "admin");
    expect(store.keySpend(k.row.id)).toEqual({ spent: 0, held: 0, cap: 1_000_000 });
    store.reserve({ accountId: "acc_s", keyId: k.row.id, requestId: "r1", amount: 600_000 });
    await store.settle("r1", 400_000);
    expect(store.keySpend(k.row.id)).toEqual({ spent: 400_000, held: 0, cap: 1_000_000 });
    // The cap counts what was spent: 400k spent + 700k would pass it.
    expect(() => store.reserve({ accountId: "acc_s", keyId: k.row.id, requestId: "r2", amount: 700_000 })).toThrow("spending cap");
    await nextTurn();
    cli.durable(() => cli.sqlite.query("UPDATE accounts SET status = 'suspended' WHERE id = ?").run("acc_s"));
    await nextTurn();
    expect(() => keys.authenticate(k.key)).toThrow("suspended");
    expect(() => store.reserve({ accountId: "acc_s", requestId: "r3", amount: 1 })).toThrow("suspended");
  });
});

describe("credit store", () => {
  test("a top-up by another process is available from the next turn; a charge here at once", async () => {
    const { gateway, cli } = open("credit");
    account(gateway, "acc_c", 1_000);
    const store = new SqliteCreditStore(gateway, { holdTtlMs: 60_000 });
    expect(store.balance("acc_c").available).toBe(1_000);
    expect(() => store.reserve({ accountId: "acc_c", requestId: "big", amount: 5_000 })).toThrow("run out of credits");
    await nextTurn();
    cli.sqlite.query("UPDATE accounts SET balance_micros = balance_micros + 10000 WHERE id = ?").run("acc_c");
    await nextTurn();
    expect(store.balance("acc_c").available).toBe(11_000);
    store.reserve({ accountId: "acc_c", requestId: "big", amount: 5_000 });
    await store.settle("big", 4_000);
    expect(store.balance("acc_c")).toEqual({ balance: 7_000, held: 0, available: 7_000 });
  });

  test("its own settlements keep the stamp (memos survive charges) and keep the memoised balance exact", async () => {
    const { gateway } = open("absorbed");
    account(gateway, "acc_a", 10_000);
    const store = new SqliteCreditStore(gateway, { holdTtlMs: 60_000 });
    expect(store.balance("acc_a").available).toBe(10_000);
    const stamp = gateway.changeStamp();
    store.reserve({ accountId: "acc_a", requestId: "a1", amount: 3_000 });
    await store.settle("a1", 2_500);
    expect(gateway.changeStamp()).toBe(stamp);
    expect(store.balance("acc_a")).toEqual({ balance: 7_500, held: 0, available: 7_500 });

    // Another write on this connection queued before a settlement commits: both are seen.
    store.reserve({ accountId: "acc_a", requestId: "a2", amount: 1_000 });
    const settled = store.settle("a2", 1_000);
    gateway.sqlite.query("UPDATE accounts SET balance_micros = balance_micros + 100000 WHERE id = ?").run("acc_a");
    await settled;
    expect(gateway.changeStamp()).not.toBe(stamp);
    expect(store.balance("acc_a")).toEqual({ balance: 106_500, held: 0, available: 106_500 });
    const row = gateway.sqlite.query("SELECT balance_micros AS b FROM accounts WHERE id = ?").get("acc_a") as { b: number };
    expect(row.b).toBe(106_500);
  });
});
