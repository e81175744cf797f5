import { Database } from "bun:sqlite";
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chat, until, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

/**
 * The files under a running gateway failing or changing behind its back, with the compiled
 * binary: a settlement journal that cannot be emptied (ftruncate refused: here an append-only
 * file, as EIO would on a failing disk) does not take the process down, readiness says so, and
 * the charges it still holds are charged once, whether it is emptied later or the next start
 * applies them again. A database file deleted or replaced while the gateway has it open (SQLite
 * writes on into the file it opened, which no later start sees) makes readiness fail, with one
 * error line saying so.
 */
setDefaultTimeout(60_000);
const upstream = startFakeUpstream();
const dirs: string[] = [];
const gws: BinaryGateway[] = [];
afterAll(async () => {
  for (const g of gws) await g.stop("SIGKILL");
  await upstream.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// 1 prompt token and 1000 output tokens of grok-4 in the fake catalogue: 15,003 micros.
const COST = 15_003;
const CREDITS = 10_000_000;
const mock = { prompt_tokens: 1, completion_tokens: 1000 };

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-storage-"));
  dirs.push(dir);
  return dir;
}

const stderrs = new Map<BinaryGateway, { text: string; done: Promise<void> }>();

async function serve(dir: string): Promise<BinaryGateway> {
  const gw = await startBinaryGateway({ dir, config: { ...fakeCatalogue(upstream.url), db_path: join(dir, "tollgate.db") } });
  gws.push(gw);
  const err = { text: "", done: Promise.resolve() };
  const decoder = new TextDecoder();
  err.done = (async () => {
    for await (const chunk of gw.proc.stderr as ReadableStream<Uint8Array>) err.text += decoder.decode(chunk, { stream: true });
  })();
  stderrs.set(gw, err);
  return gw;
}

/** What the gateway wrote on stderr so far; all of it once `ended` (it is stopped first). */
async function stderrOf(gw: BinaryGateway, ended = false): Promise<string> {
  const err = stderrs.get(gw)!;
  if (ended) await err.done;
  else await Bun.sleep(50);
  return err.text;
}

/** `chattr` on the file; false when this machine cannot (no chattr, not root, a file system without attributes). */
const chattr = (flag: "+a" | "-a", file: string): boolean => Bun.spawnSync(["chattr", flag, file]).exitCode === 0;

async function charged(gw: BinaryGateway, key: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await chat(gw.url, key, { model: "grok-4", max_tokens: 1000, messages: user("hi"), mock });
    expect(res.status).toBe(200);
    await res.json();
  }
}

const readiness = async (gw: BinaryGateway) => {
  const res = await fetch(`${gw.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, string> };
};

const chargesIn = (dbPath: string, accountId: string): number => {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.query<{ n: number }, [string]>("SELECT count(*) AS n FROM ledger_entries WHERE kind = 'charge' AND account_id = ?").get(accountId)!.n;
  } finally {
    db.close();
  }
};

describe("a settlement journal that cannot be emptied", () => {
  test("the gateway serves on and reports it; records left in it are charged once after a kill, and it empties once it can", async () => {
    const dir = folder();
    const dbPath = join(dir, "tollgate.db");
    const journal = `${dbPath}-settlements`;
    let gw = await serve(dir);
    const c = await gw.customer(CREDITS);
    if (!chattr("+a", journal)) return console.warn("skipped: chattr +a is not available here");
    try {
      // Each batch reaches SQLite, then its ftruncate fails: the process used to exit right there.
      for (let i = 0; i < 3; i++) {
        await charged(gw, c.key, 1);
        await Bun.sleep(300);
      }
      expect(gw.proc.exitCode).toBeNull();
      expect(await gw.balance(c.accountId)).toBe(CREDITS - 3 * COST);
      expect(await readiness(gw)).toEqual({ status: 503, body: { status: "unavailable", database: "ok", settlements: "failing" } });
      expect(statSync(journal).size).toBeGreaterThan(0);
      // Killed with every record still in the file, all of them already in SQLite.
      await gw.stop("SIGKILL");
      const stderr = await stderrOf(gw, true);
      // Said once, not at every retry.
      expect(stderr.match(/settlement journal: cannot empty/g)).toHaveLength(1);
    } finally {
      chattr("-a", journal);
    }
    gw = await serve(dir);
    expect(chargesIn(dbPath, c.accountId)).toBe(3);
    expect(statSync(journal).size).toBe(0);
    expect(await gw.balance(c.accountId)).toBe(CREDITS - 3 * COST);

    // The same on a live process, then the file becomes writable again: the next try empties it.
    expect(chattr("+a", journal)).toBe(true);
    try {
      await charged(gw, c.key, 2);
      expect(await until(async () => (await readiness(gw)).status === 503, 3_000)).toBe(true);
    } finally {
      chattr("-a", journal);
    }
    expect(await until(async () => (await readiness(gw)).status === 200, 3_000)).toBe(true);
    expect(statSync(journal).size).toBe(0);
    expect(await gw.balance(c.accountId)).toBe(CREDITS - 5 * COST);
    expect(chargesIn(dbPath, c.accountId)).toBe(5);
    expect(await gw.stop("SIGTERM")).toBe(0);
    expect(await stderrOf(gw, true)).toContain("emptied again");
  });
});

describe("a database file deleted or replaced while the gateway has it open", () => {
  test("deleted: readiness reports the database as an error, and the log says so once", async () => {
    const dir = folder();
    const dbPath = join(dir, "tollgate.db");
    const gw = await serve(dir);
    const c = await gw.customer(CREDITS);
    await charged(gw, c.key, 1);
    expect((await readiness(gw)).status).toBe(200);
    for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) rmSync(f, { force: true });
    // Still answering from the unlinked file: only the path tells.
    expect(await readiness(gw)).toEqual({ status: 503, body: { status: "unavailable", database: "error", settlements: "ok" } });
    expect((await readiness(gw)).status).toBe(503);
    await gw.stop("SIGKILL");
    const stderr = await stderrOf(gw, true);
    expect(stderr.match(/the database file \S+tollgate\.db was deleted while the gateway had it open/g)).toHaveLength(1);
  });

  test("replaced by another file (moved onto its path): logged within 5 s unpolled, and readiness fails", async () => {
    const dir = folder();
    const dbPath = join(dir, "tollgate.db");
    const gw = await serve(dir);
    expect((await readiness(gw)).status).toBe(200);
    copyFileSync(dbPath, join(dir, "other.db"));
    renameSync(join(dir, "other.db"), dbPath);
    const line = `the database file ${dbPath} was replaced by another file while the gateway had it open`;
    // The background check (every 5 s) logs it with nobody asking.
    expect(await until(async () => (await stderrOf(gw)).includes(line), 6_000, 100)).toBe(true);
    expect(await readiness(gw)).toEqual({ status: 503, body: { status: "unavailable", database: "error", settlements: "ok" } });
    await gw.stop("SIGKILL");
    expect((await stderrOf(gw, true)).split(line)).toHaveLength(2);
  });
});
