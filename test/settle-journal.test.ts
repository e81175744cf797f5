import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../src/store/sqlite-store";
import { SettleJournal, type SettleRecord } from "../src/money/settle-journal";
import { SqliteCreditStore } from "../src/money/sqlite-credit-store";
import { SettleWriter } from "../src/money/settle-writer";
import { StoredObjects } from "../src/gateway/stored-objects";
import { checkLedger, checkLedgerSync, postCredit } from "../src/money/ledger";
import { freshDb, seedAccount, seedKey } from "./support/foundation";

/**
 * The settlement journal (issue 6): a settlement is durable once appended to the journal, counts
 * at once in the store's balances, and reaches SQLite in a batch later (or as soon as anything
 * else in the process reads money). A process killed with settlements only in the journal loses
 * none of them: the next start applies each exactly once, even if it had been applied before.
 */
setDefaultTimeout(60_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-journal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const paths = () => {
  n++;
  return { db: join(dir, `t${n}.db`), journal: join(dir, `t${n}.db-settlements`) };
};

const sql = (db: SqliteStore) => db.sqlite;
const count = (db: SqliteStore, where = "1") => sql(db).query<{ n: number }, []>(`SELECT count(*) AS n FROM ledger_entries WHERE kind = 'charge' AND ${where}`).get()!.n;
const dbBalance = (db: SqliteStore, id: string) => sql(db).query<{ b: number }, [string]>("SELECT balance_micros AS b FROM accounts WHERE id = ?").get(id)!.b;
const dbSpent = (db: SqliteStore, id: string) => sql(db).query<{ s: number }, [string]>("SELECT spent_micros AS s FROM api_keys WHERE id = ?").get(id)!.s;

function record(i: number): SettleRecord {
  return { t: "settle", requestId: `req_${i}`, accountId: "acc_1", keyId: null, amount: 100, charge: 40, persisted: false, at: i };
}

describe("the journal file", () => {
  test("records read back in order; a fragment torn by a crash mid-write is skipped; clear empties it", () => {
    const p = paths();
    const j = SettleJournal.open(p.journal);
    j.append([record(1), record(2)]);
    j.append([record(3)]);
    appendFileSync(p.journal, '{"t":"settle","requestId":"req_4","acc');
    const again = SettleJournal.open(p.journal);
    expect(again.read().map((r) => r.requestId)).toEqual(["req_1", "req_2", "req_3"]);
    expect(again.bytes).toBe(statSync(p.journal).size);
    again.clear();
    expect(statSync(p.journal).size).toBe(0);
    j.close();
    again.close();
  });
});

describe("ownership", () => {
  test("one process owns a journal: others get none while it lives, the next one takes it over once it dies", async () => {
    const p = paths();
    const code = `const { SettleJournal } = await import(${JSON.stringify(join(import.meta.dir, "../src/money/settle-journal.ts"))});
      // Kept referenced: a journal the collector finalises closes its lock.
      globalThis.journal = SettleJournal.claim(${JSON.stringify(p.journal)});
      console.log(globalThis.journal ? "owner" : "refused");
      setInterval(() => {}, 1000);`;
    const child = Bun.spawn(["bun", "-e", code], { stdout: "pipe", stderr: "inherit" });
    try {
      const reader = child.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first.trim()).toBe("owner");
      expect(SettleJournal.claim(p.journal)).toBeNull();
    } finally {
      // Also when an expectation fails: a child left holding the lock would keep the run open.
      child.kill("SIGKILL");
      await child.exited;
    }
    const mine = SettleJournal.claim(p.journal);
    expect(mine).not.toBeNull();
    // A second claim in the same process is refused too (two runtimes on one database).
    expect(SettleJournal.claim(p.journal)).toBeNull();
    mine!.close();
    const again = SettleJournal.claim(p.journal);
    expect(again).not.toBeNull();
    again!.close();
  });
  test("a lock file the gateway's user may not write is an error, not a lock nobody holds", async () => {
    // SQLite opens such a file read-only, and an exclusive transaction there takes no lock at all.
    const p = paths();
    SettleJournal.claim(p.journal)!.close();
    // Everything else is the user's to write: only the lock file is not.
    chmodSync(dir, 0o777);
    chmodSync(p.journal, 0o666);
    chmodSync(`${p.journal}.lock`, 0o444);
    // A copy the unprivileged user can read (a clone may sit in a private directory); its one other import is a type.
    const mod = join(dir, "settle-journal.ts");
    copyFileSync(join(import.meta.dir, "../src/money/settle-journal.ts"), mod);
    const code = `const { SettleJournal } = await import(${JSON.stringify(mod)});
      try { console.log(SettleJournal.claim(${JSON.stringify(p.journal)}) ? "owner" : "refused"); } catch (e) { console.log(e.message); }`;
    // Root may write any file: the claim runs as an unprivileged user, as a service would.
    const asUser = process.getuid?.() === 0 ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] : [];
    const child = Bun.spawn([...asUser, process.execPath, "-e", code], { stdout: "pipe", stderr: "inherit", cwd: tmpdir() });
    const said = (await new Response(child.stdout).text()).trim();
    await child.exited;
    expect(said).toStartWith("cannot use the settlement journal's lock");
  });
});

describe("a store with a journal", () => {
  function setup(applyMs = 3_600_000, applySlice?: number) {
    const p = paths();
    const db = freshDb(p.db);
    const accountId = seedAccount(db, 10_000_000);
    const keyId = seedKey(db, accountId, { spend_cap_micros: 5_000_000 }).row.id;
    const journal = SettleJournal.open(p.journal);
    const store = new SqliteCreditStore(db, { holdTtlMs: 60_000, journal, applyMs, applySlice });
    return { p, db, accountId, keyId, journal, store };
  }

  /** 120 turns of 50 settlements of 7 micros each (ids t<turn>_<i>), one group commit a turn. */
  async function settleTurns(store: SqliteCreditStore, accountId: string, afterTurn: () => void = () => {}) {
    for (let turn = 0; turn < 120; turn++) {
      const settled: Promise<unknown>[] = [];
      for (let i = 0; i < 50; i++) {
        const requestId = `t${turn}_${i}`;
        store.reserve({ accountId, requestId, amount: 100 });
        settled.push(store.settle(requestId, 7));
      }
      await Promise.all(settled);
      afterTurn();
    }
  }

  test("a settlement counts at once and reaches SQLite with the next batch, or when the process reads money", async () => {
    const { db, accountId, keyId, journal, store } = setup();
    store.reserve({ accountId, keyId, requestId: "r1", amount: 1_000_000 });
    expect(await store.settle("r1", 300_000)).toEqual({ charged: 300_000, released: 700_000 });
    // Durable in the journal; SQLite has not seen it yet, the store counts it.
    expect(journal.bytes).toBeGreaterThan(0);
    expect(count(db)).toBe(0);
    expect(dbBalance(db, accountId)).toBe(10_000_000);
    expect(store.balance(accountId)).toEqual({ balance: 9_700_000, held: 0, available: 9_700_000 });
    expect(store.keySpend(keyId)).toEqual({ spent: 300_000, held: 0, cap: 5_000_000 });
    // The key cap counts the unapplied charge too.
    expect(() => store.reserve({ accountId, keyId, requestId: "r2", amount: 4_800_000 })).toThrow(/spending cap/);
    db.catchUp();
    expect(count(db)).toBe(1);
    expect(dbBalance(db, accountId)).toBe(9_700_000);
    expect(dbSpent(db, keyId)).toBe(300_000);
    expect(journal.bytes).toBe(0);
    expect(store.balance(accountId).balance).toBe(9_700_000);
    expect(store.keySpend(keyId)!.spent).toBe(300_000);
    expect(await checkLedger(db)).toEqual([]);
  });

  test("a Responses object rides with its settlement: journaled, read at once by its owner only, the request memos kept", async () => {
    const { p, db, accountId, keyId, journal, store } = setup();
    const objects = new StoredObjects(db);
    const object = { id: "resp_1", kind: "response" as const, accountId, keyId, target: "xai#0", model: "grok-4", tokens: 40, chargeMicros: 120, createdAt: 5 };
    const stamp = db.changeStamp();
    store.reserve({ accountId, keyId, requestId: "r1", amount: 1_000 });
    await store.settle("r1", 120, { object });
    // No write of its own: only the journal has it, and the memos of keys and accounts stand.
    expect(journal.bytes).toBeGreaterThan(0);
    expect(sql(db).query("SELECT count(*) AS n FROM upstream_objects").get()).toEqual({ n: 0 });
    expect(db.changeStamp()).toBe(stamp);
    // A continuation right after the answer finds it (the journal is written first), another account does not.
    expect(await objects.owned("resp_1", { accountId })).toEqual({ ...object, responseId: null });
    expect(await objects.owned("resp_1", { accountId: "acc_other" })).toBeNull();
    expect(count(db)).toBe(1);
    // The first creator keeps an id.
    store.reserve({ accountId, keyId, requestId: "r2", amount: 1_000 });
    await store.settle("r2", 1, { object: { ...object, accountId: "acc_other", chargeMicros: 1 } });
    expect((await objects.owned("resp_1", { accountId }))?.chargeMicros).toBe(120);
    // A lookup of an object SQLite has already does not write the journal out early.
    expect(journal.bytes).toBeGreaterThan(0);
    // Killed with it only in the journal: the restart writes it.
    store.reserve({ accountId, keyId, requestId: "r3", amount: 1_000 });
    await store.settle("r3", 7, { object: { ...object, id: "resp_3" } });
    journal.close();
    const again = freshDb(p.db);
    const reopened = SettleJournal.open(p.journal);
    new SqliteCreditStore(again, { holdTtlMs: 60_000, journal: reopened }).recover();
    expect(sql(again).query("SELECT account_id AS a FROM upstream_objects WHERE id = 'resp_3'").get()).toEqual({ a: accountId });
    reopened.close();
  });

  test("the batch is written by its timer", async () => {
    const { db, accountId, journal, store } = setup(20);
    store.reserve({ accountId, requestId: "r1", amount: 1_000 });
    await store.settle("r1", 1_000);
    expect(count(db)).toBe(0);
    await Bun.sleep(80);
    expect(count(db)).toBe(1);
    expect(journal.bytes).toBe(0);
  });

  test("under steady traffic a batch is written once enough settlements wait, long before applyMs", async () => {
    const { db, accountId, journal, store } = setup(3_600_000);
    // All in one turn: one after another, a loaded machine let the 10 ms step fall mid-batch
    // (23 written, the last 2 left waiting for applyMs).
    const settle = async (from: number, n: number) => {
      const ids = Array.from({ length: n }, (_, i) => `s${from + i}`);
      for (const id of ids) store.reserve({ accountId, requestId: id, amount: 100 });
      await Promise.all(ids.map((id) => store.settle(id, 10)));
    };
    // A trickle waits for applyMs (an hour here)...
    await settle(0, 5);
    await Bun.sleep(50);
    expect(count(db)).toBe(0);
    // ...while a batch worth writing goes at the timer's next step, a few milliseconds later.
    await settle(5, 20);
    await Bun.sleep(50);
    expect(count(db)).toBe(25);
    expect(journal.bytes).toBe(0);
    expect(await checkLedger(db)).toEqual([]);
  });

  test("a backlog is written in slices with the event loop running between them; the journal empties after the last", async () => {
    const { db, accountId, keyId, journal, store } = setup(20);
    const commits: { ops: number; turns: number; journalBytes: number; charges: number }[] = [];
    let turns = 0;
    const original = SettleWriter.prototype.commit;
    SettleWriter.prototype.commit = function (this: SettleWriter, ops) {
      commits.push({ ops: ops.length, turns, journalBytes: journal.bytes, charges: count(db) });
      setImmediate(() => turns++);
      return original.call(this, ops);
    };
    try {
      const total = 300;
      for (let i = 0; i < total; i++) store.reserve({ accountId, keyId, requestId: `r${i}`, amount: 10_000 });
      // One group commit: all 300 journaled at once, none in SQLite yet.
      await Promise.all(Array.from({ length: total }, (_, i) => store.settle(`r${i}`, 1_000 + i)));
      const charged = total * 1_000 + (total * (total - 1)) / 2;
      expect(count(db)).toBe(0);
      expect(store.balance(accountId)).toEqual({ balance: 10_000_000 - charged, held: 0, available: 10_000_000 - charged });
      const deadline = Date.now() + 5_000;
      while (journal.bytes > 0 && Date.now() < deadline) await Bun.sleep(5);
      expect(commits.map((c) => c.ops)).toEqual([128, 128, 44]);
      // The loop turned between slices, and the journal kept every record until the last was written.
      expect(commits[1]!.turns).toBeGreaterThan(commits[0]!.turns);
      expect(commits[2]!.turns).toBeGreaterThan(commits[1]!.turns);
      expect(commits.map((c) => c.charges)).toEqual([0, 128, 256]);
      expect(commits.every((c) => c.journalBytes > 0)).toBe(true);
      expect(journal.bytes).toBe(0);
      expect(count(db)).toBe(total);
      expect(dbBalance(db, accountId)).toBe(10_000_000 - charged);
      expect(dbSpent(db, keyId)).toBe(charged);
      expect(store.balance(accountId).balance).toBe(10_000_000 - charged);
      expect(await checkLedger(db)).toEqual([]);
    } finally {
      SettleWriter.prototype.commit = original;
    }
  });

  test("arrivals that outpace the slices: at 2,048 records the journal is written whole and emptied", async () => {
    // The batch timer never comes (as if more kept arriving than slices write): only the length
    // of the journal can have it written and emptied.
    const { db, accountId, journal, store } = setup(3_600_000, 10);
    let emptied = 0;
    let longest = 0;
    let before = 0;
    await settleTurns(store, accountId, () => {
      if (journal.bytes < before) emptied++;
      before = journal.bytes;
      longest = Math.max(longest, journal.read().length);
    });
    // 6,000 settlements went through; the journal never held more than 2,048 and one turn's worth.
    expect(emptied).toBeGreaterThanOrEqual(2);
    expect(longest).toBeLessThan(2_048 + 50);
    db.catchUp();
    expect(count(db)).toBe(6_000);
    expect(dbBalance(db, accountId)).toBe(10_000_000 - 6_000 * 7);
    expect(store.balance(accountId).balance).toBe(10_000_000 - 6_000 * 7);
    expect(await checkLedger(db)).toEqual([]);
  });

  test("a settlement SQLite keeps refusing is retried now and then, not at every commit; nothing is lost", async () => {
    const { db, accountId, journal, store } = setup(3_600_000, 10);
    db.sqlite.exec("CREATE TEMP TRIGGER refuse_one BEFORE INSERT ON ledger_entries WHEN NEW.request_id = 't0_0' BEGIN SELECT RAISE(ABORT, 'refused'); END");
    let failures = 0;
    const originalError = console.error;
    console.error = (...args: unknown[]) => {
      if (String(args[0]).includes("commit failed")) failures++;
    };
    try {
      await settleTurns(store, accountId);
    } finally {
      console.error = originalError;
    }
    // Once per 2,048 journaled records (and perhaps once by the 1 s retry timer): not at each of
    // the ~100 commits after the first 2,048.
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(failures).toBeLessThanOrEqual(3);
    // Everybody else's charges so far are in SQLite; the refused one is still counted, and kept.
    expect(count(db)).toBe(4_099);
    expect(store.balance(accountId).balance).toBe(10_000_000 - 6_000 * 7);
    expect(journal.read().some((r) => r.requestId === "t0_0")).toBe(true);
    db.sqlite.exec("DROP TRIGGER temp.refuse_one");
    db.catchUp();
    expect(count(db)).toBe(6_000);
    expect(dbBalance(db, accountId)).toBe(10_000_000 - 6_000 * 7);
    expect(journal.bytes).toBe(0);
    expect(await checkLedger(db)).toEqual([]);
  });

  test("a top-up written meanwhile by another process (the CLI) adds to the unapplied charges, exactly", async () => {
    const { p, db, accountId, store } = setup();
    store.reserve({ accountId, requestId: "r1", amount: 2_000_000 });
    await store.settle("r1", 1_500_000);
    const cli = new SqliteStore(p.db);
    await postCredit(cli, { accountId, amountMicros: 4_000_000, actor: "cli", heldMicros: 0 });
    cli.close();
    expect(store.balance(accountId).balance).toBe(10_000_000 - 1_500_000 + 4_000_000);
    db.catchUp();
    expect(dbBalance(db, accountId)).toBe(12_500_000);
    expect(store.balance(accountId).balance).toBe(12_500_000);
    expect(await checkLedger(db)).toEqual([]);
  });

  test("a top-up in this process first writes the unapplied charges, so the ledger stays in time order", async () => {
    const { db, accountId, store } = setup();
    store.reserve({ accountId, requestId: "r1", amount: 1_000 });
    await store.settle("r1", 1_000);
    await postCredit(db, { accountId, amountMicros: 5_000, actor: "admin", heldMicros: 0 });
    const kinds = sql(db).query<{ kind: string }, [string]>("SELECT kind FROM ledger_entries WHERE account_id = ? ORDER BY id").all(accountId);
    expect(kinds.map((k) => k.kind)).toEqual(["topup", "charge", "topup"]);
  });

  test("a batch SQLite refuses (locked) stays in the journal and in the balances, and is written later", async () => {
    const { p, db, accountId, journal, store } = setup();
    store.reserve({ accountId, requestId: "r1", amount: 1_000 });
    await store.settle("r1", 600);
    const other = new Database(p.db);
    sql(db).exec("PRAGMA busy_timeout = 10");
    other.exec("BEGIN IMMEDIATE");
    db.catchUp();
    expect(journal.bytes).toBeGreaterThan(0);
    expect(store.balance(accountId).balance).toBe(10_000_000 - 600);
    other.exec("COMMIT");
    other.close();
    expect(count(db)).toBe(0);
    db.catchUp();
    expect(count(db)).toBe(1);
    expect(dbBalance(db, accountId)).toBe(10_000_000 - 600);
    expect(store.balance(accountId).balance).toBe(10_000_000 - 600);
    expect(journal.bytes).toBe(0);
  });
});

describe("kill -9 with settlements only in the journal", () => {
  test("the next start applies every one exactly once, and applying the same journal again changes nothing", async () => {
    const p = paths();
    const child = Bun.spawn(["bun", join(import.meta.dir, "support/journal-child.ts"), p.db, p.journal, "60"], { stdout: "pipe", stderr: "inherit" });
    const reader = child.stdout.getReader();
    let out = "";
    while (!out.includes("\n")) {
      const r = await reader.read();
      if (r.done) break;
      out += new TextDecoder().decode(r.value);
    }
    child.kill("SIGKILL");
    await child.exited;
    const { accountId, keyId, charged } = JSON.parse(out) as { accountId: string; keyId: string; charged: Record<string, number> };
    const total = Object.values(charged).reduce((a, b) => a + b, 0);
    expect(Object.keys(charged)).toHaveLength(60);
    expect(total).toBeGreaterThan(0);

    // Nothing reached SQLite before the kill: every charge is in the journal only.
    const db = freshDb(p.db);
    expect(count(db)).toBe(0);
    expect(readFileSync(p.journal, "utf8").trim().split("\n")).toHaveLength(60);
    const copy = `${p.journal}.copy`;
    copyFileSync(p.journal, copy);

    const check = () => {
      expect(count(db)).toBe(60);
      for (const [id, c] of Object.entries(charged)) {
        expect(sql(db).query<{ a: number }, [string]>("SELECT amount_micros AS a FROM ledger_entries WHERE request_id = ?").get(id)!.a).toBe(-c);
      }
      expect(dbBalance(db, accountId)).toBe(100_000_000 - total);
      expect(dbSpent(db, keyId)).toBe(total);
      expect(sql(db).query<{ n: number }, []>("SELECT count(*) AS n FROM usage_log").get()!.n).toBe(60);
      expect(checkLedgerSync(db)).toEqual([]);
    };
    const restart = () => {
      const journal = SettleJournal.open(p.journal);
      new SqliteCreditStore(db, { holdTtlMs: 60_000, journal }).recover();
      expect(journal.bytes).toBe(0);
      journal.close();
    };
    restart();
    check();
    // A crash after SQLite committed the batch but before the journal was emptied.
    copyFileSync(copy, p.journal);
    restart();
    check();
  });

  test("a lock file the gateway cannot open is named in the error (SQLite's own message names none)", () => {
    const p = paths();
    mkdirSync(`${p.journal}.lock`);
    expect(() => SettleJournal.claim(p.journal)).toThrow(`cannot use the settlement journal's lock ${p.journal}.lock`);
  });

  test("a journal that charges an account the database lacks (kept beside a restored backup) stops the start, saying so; it stays", () => {
    const p = paths();
    const db = freshDb(p.db);
    const acc = seedAccount(db, 1_000_000);
    appendFileSync(p.journal, `${JSON.stringify({ ...record(1), accountId: acc })}\n${JSON.stringify({ ...record(2), accountId: "acc_gone" })}\n`);
    const journal = SettleJournal.open(p.journal);
    const errors: string[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => void errors.push(a.map(String).join(" "));
    try {
      expect(() => new SqliteCreditStore(db, { holdTtlMs: 60_000, journal }).recover()).toThrow(/kept there/);
    } finally {
      console.error = error;
      journal.close();
    }
    expect(errors.join("\n")).toContain("settlement req_2 charges account acc_gone, which this database does not have");
    expect(errors.join("\n")).toContain("docs/billing.md#backups");
    // Nothing of it is lost: the journal still holds the record it could not write.
    expect(readFileSync(p.journal, "utf8")).toContain("acc_gone");
  });
});
