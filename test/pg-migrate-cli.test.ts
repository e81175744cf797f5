/**
 * `tollgate migrate-to-postgres`: an embedded database with customers, charges and keys copied
 * into PostgreSQL; a gateway on the copy serves the same keys with the same balances. It refuses
 * while a gateway serves the file (whose later charges the copy would miss), and first writes to the
 * file what a stopped gateway left in its settlement journal.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SQL } from "bun";
import { chat, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startBinaryGateway, startGateway, type Customer } from "./support/gateway";
import { freshPostgres } from "./support/postgres";
import { journalPath, type SettleRecord } from "../src/money/settle-journal";
import { PgStore } from "../src/store/pg-store";

setDefaultTimeout(120_000);
const ENTRY = resolve(import.meta.dir, "../src/index.ts");
let dir: string;
let upstream: MockUpstream;
const customers: Customer[] = [];
const balances: number[] = [];

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, ENTRY, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "" }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tollgate-topg-"));
  upstream = startFakeUpstream();
  const gw = await startGateway({ dbPath: join(dir, "t.db"), upstream });
  for (let i = 0; i < 3; i++) {
    const c = await gw.customer(5_000_000 + i);
    for (let j = 0; j <= i; j++) expect((await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 7, completion_tokens: 3 + j } })).status).toBe(200);
    customers.push(c);
    balances.push(await gw.balance(c.accountId));
  }
  await gw.stop({ keepUpstream: true });
});

afterAll(async () => {
  await upstream?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("migrate-to-postgres", () => {
  test("copies every row, checks the ledger there, and refuses a database that is not empty", async () => {
    const url = await freshPostgres();
    const r = await cli(["migrate-to-postgres", "--from", join(dir, "t.db"), "--to", url, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.mismatches).toEqual([]);
    expect(out.incomplete).toEqual([]);
    const rows = Object.fromEntries(out.tables.map((t: { table: string; rows: number }) => [t.table, t.rows]));
    expect(rows.accounts).toBe(3);
    expect(rows.ledger_entries).toBe(3 + 6);
    expect(rows.usage_log).toBe(6);
    const sql = new SQL(url);
    const copied = await sql`SELECT id, balance_micros FROM accounts ORDER BY id`;
    await sql.close();
    const byId = new Map(copied.map((a: { id: string; balance_micros: string }) => [a.id, Number(a.balance_micros)]));
    customers.forEach((c, i) => expect(byId.get(c.accountId)).toBe(balances[i]!));

    const again = await cli(["migrate-to-postgres", "--from", join(dir, "t.db"), "--to", url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already has 3 account(s)");

    // A gateway on the copy: the same keys, the same balances, and it keeps charging exactly.
    const gw = await startBinaryGateway({ config: fakeCatalogue(upstream.url), env: { TOLLGATE_DATABASE_URL: url } });
    try {
      const c = customers[2]!;
      expect(await gw.balance(c.accountId)).toBe(balances[2]!);
      expect((await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 10, completion_tokens: 2 } })).status).toBe(200);
      expect(await gw.balance(c.accountId)).toBe(balances[2]! - (10 * 3 + 2 * 15));
    } finally {
      await gw.stop();
    }
  });

  test("a database a gateway has started on (its settings, no account) takes the copy", async () => {
    const url = await freshPostgres();
    const pg = await PgStore.open(url);
    await pg.sql`INSERT INTO settings (key, value) VALUES ('admin_token_sha256', 'written-at-start')`;
    await pg.close();
    const r = await cli(["migrate-to-postgres", "--from", join(dir, "t.db"), "--to", url, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const sql = new SQL(url);
    const [{ n }] = await sql`SELECT count(*)::int AS n FROM accounts`;
    const stale = await sql`SELECT 1 FROM settings WHERE value = 'written-at-start'`;
    await sql.close();
    expect(n).toBe(3);
    expect(stale).toHaveLength(0);
  });

  test("refuses while a gateway serves the file; copies what a stopped one left in its journal", async () => {
    const db = join(dir, "live.db");
    const url = await freshPostgres();
    const gw = await startGateway({ dbPath: db, upstream });
    let c: Customer;
    try {
      c = await gw.customer(1_000_000);
      expect((await chat(gw.url, c.key, { model: "grok-4", messages: user(), mock: { completion_tokens: 20 } })).status).toBe(200);
      // It would go on charging into SQLite after a copy, and PostgreSQL would never have those charges.
      const live = await cli(["migrate-to-postgres", "--from", db, "--to", url]);
      expect({ code: live.code, stderr: live.stderr.trim() }).toEqual({
        code: 1,
        stderr: `migrate-to-postgres: a gateway serves ${db} (it holds ${db}-settlements.lock); stop it first, then run this again`,
      });
    } finally {
      await gw.stop({ keepUpstream: true });
    }
    const target = new SQL(url);
    // Refused before PostgreSQL was touched: not even migrated.
    expect((await target`SELECT to_regclass('accounts') IS NULL AS untouched`)[0].untouched).toBe(true);

    // A charge only in the journal, as a gateway killed with kill -9 leaves it: written to the file first, then copied.
    const left: SettleRecord = { t: "settle", requestId: "req_left_in_journal", accountId: c.accountId, keyId: c.keyId, amount: 50_000, charge: 40_000, persisted: false, at: Date.now() };
    writeFileSync(journalPath(db), `${JSON.stringify(left)}\n`);
    const books = new Database(db, { readonly: true });
    const before = books.query<{ b: number }, [string]>("SELECT balance_micros AS b FROM accounts WHERE id = ?").get(c.accountId)!.b;
    books.close();
    const r = await cli(["migrate-to-postgres", "--from", db, "--to", url]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    const [copied] = await target`SELECT balance_micros::bigint AS b FROM accounts WHERE id = ${c.accountId}`;
    await target.close();
    const after = new Database(db, { readonly: true });
    const file = after.query<{ b: number }, [string]>("SELECT balance_micros AS b FROM accounts WHERE id = ?").get(c.accountId)!.b;
    after.close();
    expect({ copied: Number(copied.b), file, journal: readFileSync(journalPath(db), "utf8") }).toEqual({ copied: before - 40_000, file: before - 40_000, journal: "" });
  });

  test("a bad target is a usage error", async () => {
    const r = await cli(["migrate-to-postgres", "--from", join(dir, "t.db"), "--to", "mysql://x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--to postgres://");
  });

  test("a server that cannot be reached is named (never its password)", async () => {
    const r = await cli(["migrate-to-postgres", "--from", join(dir, "t.db"), "--to", "postgres://ops:s3cret-pw@127.0.0.1:1/tollgate"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("PostgreSQL at 127.0.0.1:1/tollgate as ops: Failed to connect");
    expect(r.stderr).not.toContain("s3cret-pw");
  });
});
