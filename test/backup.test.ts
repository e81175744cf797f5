import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BIN, ensureBinary } from "./support/binary";
import { chat, readSse, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

/**
 * `tollgate backup` against the compiled binary serving on the same database: the copy holds the
 * charges the gateway has so far only in its settlement journal, charges none twice, passes the
 * ledger check, and matches what the gateway itself writes to the database once it stops.
 */
setDefaultTimeout(120_000);
const ENTRY = resolve(import.meta.dir, "../src/index.ts");
const ADMIN = "backup-admin-token-0123456789";
const dir = mkdtempSync(join(tmpdir(), "tollgate-backup-"));
const upstream = startFakeUpstream();
const running: BinaryGateway[] = [];
afterAll(async () => {
  for (const b of running) await b.stop("SIGKILL");
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/** A gateway on its own database; `settle_batch_ms` decides how long charges stay only in the journal. */
async function gateway(settleBatchMs: number) {
  const folder = join(dir, `g${++n}`);
  const dbPath = join(folder, "tollgate.db");
  const config = join(dir, `g${n}.json`);
  const gw = await startBinaryGateway({
    dir,
    configFile: config,
    config: { ...fakeCatalogue(upstream.url), db_path: dbPath, settle_batch_ms: settleBatchMs, plans: { default: { rpm: 1_000_000, tpm: 1_000_000_000, concurrency: 100 } } },
    adminToken: ADMIN,
  });
  running.push(gw);
  const { accountId, key } = await gw.customer(20_000_000, {}, { name: "Backup Co" });
  return { gw, dbPath, config, accountId, key };
}

/** One chat completion read to its end; its request id. */
async function call(url: string, key: string, i: number): Promise<string> {
  const stream = i % 2 === 0;
  const res = await chat(url, key, { model: "grok-4", messages: user(`request ${i}`), stream, mock: { completion_tokens: 5 + (i % 7) } });
  expect(res.status).toBe(200);
  if (stream) expect((await readSse(res)).done).toBe(true);
  else await res.json();
  return res.headers.get("x-request-id")!;
}

async function cli(args: string[]) {
  const p = Bun.spawn([BIN, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

interface Books {
  charges: Map<string, number>;
  balance: number;
  spent: number;
  usageRows: number;
  mismatches: number;
}

function books(file: string, accountId: string): Books {
  const db = new Database(file, { readonly: true });
  try {
    const charges = new Map(
      db.query<{ r: string; a: number }, []>("SELECT request_id AS r, amount_micros AS a FROM ledger_entries WHERE kind = 'charge'").all().map((x) => [x.r, x.a]),
    );
    return {
      charges,
      balance: db.query<{ b: number }, [string]>("SELECT balance_micros AS b FROM accounts WHERE id = ?").get(accountId)!.b,
      spent: db.query<{ s: number }, []>("SELECT sum(spent_micros) AS s FROM api_keys").get()!.s,
      usageRows: db.query<{ n: number }, []>("SELECT count(*) AS n FROM usage_log").get()!.n,
      mismatches: db
        .query<{ n: number }, []>(
          "SELECT count(*) AS n FROM accounts a WHERE a.balance_micros != (SELECT coalesce(sum(amount_micros), 0) FROM ledger_entries l WHERE l.account_id = a.id)",
        )
        .get()!.n,
    };
  } finally {
    db.close();
  }
}

describe("tollgate backup", () => {
  test("a live backup holds the charges still only in the journal, each once, and equals the database after the gateway stops", async () => {
    await ensureBinary();
    const g = await gateway(10_000);
    const ids: string[] = [];
    // Fewer than a batch that is written early (16): they wait for the 10 s batch window.
    for (let i = 0; i < 12; i++) ids.push(await call(g.gw.url, g.key, i));

    // Within the 10 s batch window nothing of this has reached SQLite: it is all in the journal.
    expect(books(g.dbPath, g.accountId).charges.size).toBe(0);
    const file = join(dir, "live.db");
    const r = await cli(["backup", file, "--config", g.config, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ object: "backup", path: file, journaled: 12, accounts: 1, mismatches: [] });
    expect(out.bytes).toBe(statSync(file).size);
    expect(existsSync(`${file}-wal`)).toBe(false);

    const copy = books(file, g.accountId);
    expect([...copy.charges.keys()].sort()).toEqual([...ids].sort());
    expect([...copy.charges.values()].every((a) => a < 0)).toBe(true);
    expect(copy.mismatches).toBe(0);
    expect(copy.usageRows).toBe(12);

    // A second backup right after: the same charges, none twice.
    const again = await cli(["backup", join(dir, "live-2.db"), "--config", g.config, "--json"]);
    expect(again.code).toBe(0);
    expect(books(join(dir, "live-2.db"), g.accountId)).toEqual(copy);

    // The gateway's own books once it has stopped (a clean stop writes the journal to SQLite).
    expect(await g.gw.stop("SIGTERM")).toBe(0);
    const final = books(g.dbPath, g.accountId);
    expect(final).toEqual(copy);
    expect(final.balance).toBe(20_000_000 + [...final.charges.values()].reduce((a, b) => a + b, 0));
    expect(final.spent).toBe(20_000_000 - final.balance);
  });

  test("under load with the journal applied every few ms: every request completed before the backup began is in it, none twice", async () => {
    await ensureBinary();
    const g = await gateway(3);
    const completed: { id: string; at: number }[] = [];
    let stop = false;
    const worker = async (w: number) => {
      try {
        for (let i = w; !stop; i += 4) completed.push({ id: await call(g.gw.url, g.key, i), at: Date.now() });
      } finally {
        stop = true;
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await Bun.sleep(400);
    const file = join(dir, "busy.db");
    const began = Date.now();
    const r = await cli(["backup", file, "--config", g.config]);
    await Bun.sleep(200);
    stop = true;
    await Promise.all(workers);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`to ${file}`);
    expect(r.stdout).toContain("every balance equals the sum of its ledger entries");

    const copy = books(file, g.accountId);
    const before = completed.filter((c) => c.at < began).map((c) => c.id);
    expect(before.length).toBeGreaterThan(10);
    for (const id of before) expect(copy.charges.has(id)).toBe(true);
    expect(copy.mismatches).toBe(0);

    await g.gw.stop("SIGTERM");
    const final = books(g.dbPath, g.accountId);
    expect(final.charges.size).toBe(completed.length);
    // Whatever the copy holds, the gateway charged the same: the same request, the same amount.
    for (const [id, amount] of copy.charges) expect(final.charges.get(id)).toBe(amount);
    expect(copy.balance).toBe(20_000_000 + [...copy.charges.values()].reduce((a, b) => a + b, 0));
  });

  test("refuses an existing file or a missing folder, and changes nothing", async () => {
    await ensureBinary();
    const config = join(dir, "plain.json");
    writeFileSync(config, JSON.stringify({ ...fakeCatalogue(upstream.url), db_path: join(dir, "plain", "tollgate.db") }));
    const existing = join(dir, "existing.db");
    writeFileSync(existing, "keep me");
    const r = await cli(["backup", existing, "--config", config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("already exists");
    expect(readFileSync(existing, "utf8")).toBe("keep me");

    const missing = await cli(["backup", join(dir, "no-such-folder", "x.db"), "--config", config]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("does not exist");

    const usage = await cli(["backup", "--config", config]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("missing argument <file>");

    // No database at db_path (a typo, a wrong config): an error, and neither it nor a copy is created.
    const none = await cli(["backup", join(dir, "plain-copy.db"), "--config", config]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("there is no database at");
    expect(existsSync(join(dir, "plain", "tollgate.db"))).toBe(false);
    expect(existsSync(join(dir, "plain-copy.db"))).toBe(false);

    // With no gateway running (no journal), a backup is a plain consistent copy.
    expect((await cli(["accounts", "list", "--config", config])).code).toBe(0);
    const ok = await cli(["backup", join(dir, "plain-copy.db"), "--config", config, "--json"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ journaled: 0, accounts: 0, mismatches: [] });
  });

  test("a backup stopped half-way leaves nothing under its name; its .partial file is refused, not replaced", async () => {
    // From source (no build), on a database big enough that the copy takes a moment.
    const source = (args: string[]) => Bun.spawn([process.execPath, ENTRY, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir }, stdout: "pipe", stderr: "pipe" });
    const run = async (args: string[]) => {
      const p = source(args);
      const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { stdout, stderr, code };
    };
    const db = join(dir, "big", "tollgate.db");
    expect((await run(["migrate", "--db", db])).code).toBe(0);
    const fill = new Database(db);
    fill.exec("CREATE TABLE filler (b BLOB)");
    fill.transaction(() => {
      for (let i = 0; i < 160; i++) fill.exec("INSERT INTO filler VALUES (zeroblob(1048576))");
    })();
    fill.close();

    const target = join(dir, "big-backup.db");
    const partial = `${target}.partial`;
    const copying = source(["backup", target, "--db", db]);
    const written = (f: string) => existsSync(f) && statSync(f).size > 1_048_576;
    while (copying.exitCode === null && !written(partial) && !written(target)) await Bun.sleep(1);
    expect(copying.exitCode).toBeNull();
    copying.kill("SIGKILL");
    await copying.exited;
    expect(existsSync(target)).toBe(false);
    expect(existsSync(partial)).toBe(true);

    // The same name again: that file may be a backup still running, so it is named and left alone.
    const again = await run(["backup", target, "--db", db]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`${partial} exists`);
    expect(existsSync(partial)).toBe(true);
    rmSync(partial);
    const done = await run(["backup", target, "--db", db, "--json"]);
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ path: target, mismatches: [] });
    expect(readdirSync(dir).filter((f) => f.startsWith("big-backup"))).toEqual(["big-backup.db"]);
    const copy = new Database(target, { readonly: true });
    expect(copy.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    expect(copy.query<{ n: number }, []>("SELECT count(*) AS n FROM filler").get()!.n).toBe(160);
    copy.close();
  });

  test("never migrates what it copies; a database newer than the binary is refused by every command", async () => {
    await ensureBinary();
    const dbPath = join(dir, "versions", "tollgate.db");
    const config = join(dir, "versions.json");
    writeFileSync(config, JSON.stringify({ ...fakeCatalogue(upstream.url), db_path: dbPath }));
    expect((await cli(["accounts", "list", "--config", config])).code).toBe(0);
    const applied = () => {
      const db = new Database(dbPath);
      try {
        return db.query<{ n: number; last: number }, []>("SELECT count(*) AS n, max(created_at) AS last FROM __drizzle_migrations").get()!;
      } finally {
        db.close();
      }
    };
    const edit = (sql: string) => {
      const db = new Database(dbPath);
      db.exec(sql);
      db.close();
    };
    const current = applied();
    // As an older release left it (its last migration not applied): the new binary's backup copies nothing and changes nothing.
    edit(`DELETE FROM __drizzle_migrations WHERE created_at = ${current.last}`);
    const behind = await cli(["backup", join(dir, "versions-copy.db"), "--config", config]);
    expect(behind.code).toBe(2);
    expect(behind.stderr).toContain("lacks 1 migration(s)");
    expect(applied().n).toBe(current.n - 1);
    expect(existsSync(join(dir, "versions-copy.db"))).toBe(false);
    // As a newer release leaves it: refused, with what to do.
    edit(`INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('x', ${current.last}), ('future', ${current.last + 86_400_000})`);
    for (const args of [["accounts", "list"], ["migrate"], ["backup", join(dir, "versions-copy.db")]]) {
      const r = await cli([...args, "--config", config]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("upgraded by a newer Tollgate");
    }
  });
});
