import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../src/store/sqlite-store";
import { checkLedger } from "../src/money/ledger";
import { BIN, ensureBinary } from "./support/binary";
import { chat, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

/**
 * Budgets through the compiled binary: set with `tollgate keys update` on the database of a
 * running server (another process: the server sees it from its next request), held exactly
 * under concurrency, refused with budget_exhausted in the zone of TOLLGATE_BUDGET_TIMEZONE, and
 * after `kill -9` and a restart the period's spend is the sum of the ledger's charges, counted once.
 */
setDefaultTimeout(120_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-budget-bin-"));
const upstream = startFakeUpstream();
const running: BinaryGateway[] = [];
afterAll(async () => {
  for (const b of running) await b.stop("SIGKILL");
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ENV = { TOLLGATE_BUDGET_TIMEZONE: "Asia/Tokyo" };
const dbPath = join(dir, "tollgate.db");

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([BIN, ...args, "--db", dbPath], { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir, ...ENV }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

// 1 prompt token and 1000 output tokens: 15,003 micros, never above the hold (no overage here).
const ask = (url: string, key: string) => chat(url, key, { model: "grok-4", max_tokens: 1000, messages: user("hi"), mock: { prompt_tokens: 1, completion_tokens: 1000 } });
const COST = 15_003;

describe("budgets in the compiled binary", () => {
  test("set by the CLI while serving, exact under concurrency, durable across kill -9", async () => {
    await ensureBinary();
    writeFileSync(join(dir, "tollgate.json"), JSON.stringify({ ...fakeCatalogue(upstream.url), db_path: dbPath }));
    const start = async () => {
      const b = await startBinaryGateway({ dir, configFile: "tollgate.json", env: ENV });
      running.push(b);
      return b;
    };
    let gw = await start();
    const c = await gw.customer(10_000_000);
    const set = await cli(["keys", "update", c.keyId, "--budget", "0.1", "--budget-period", "day", "--json"]);
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout).budget).toEqual({ period: "day", amount_micros: 100_000 });

    const answers = await Promise.all(Array.from({ length: 12 }, () => ask(gw.url, c.key)));
    const ok = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status === 402);
    expect(ok.length + refused.length).toBe(12);
    expect(ok.length).toBeGreaterThanOrEqual(5);
    expect(ok.length * COST).toBeLessThanOrEqual(100_000);
    const e = ((await refused[0]!.json()) as { error: { code: string; message: string } }).error;
    expect(e.code).toBe("budget_exhausted");
    // What is left still serves a smaller max_tokens: the message names the limit and the reset.
    expect(e.message).toMatch(/^This request holds up to .* and this key's daily budget, which resets at \d{4}-\d{2}-\d{2}T00:00:00\+09:00 \(Asia\/Tokyo\), leaves [\d.]+ USD; lower max_tokens to at most \d+\.$/);
    for (const r of ok) expect(Number(r.headers.get("x-budget-remaining"))).toBeGreaterThanOrEqual(0);

    // Killed right after the answers: the charges may be only in the settlement journal.
    gw.proc.kill("SIGKILL");
    await gw.proc.exited;
    gw = await start();
    const me = (await (await gw.me(c.key)).json()) as { budgets: { spent_micros: number; remaining_micros: number; time_zone: string }[] };
    expect(me.budgets[0]).toMatchObject({ spent_micros: ok.length * COST, remaining_micros: 100_000 - ok.length * COST, time_zone: "Asia/Tokyo" });
    expect((await ask(gw.url, c.key)).status).toBe(ok.length * COST + COST <= 100_000 ? 200 : 402);
    expect(await gw.stop("SIGTERM")).toBe(0);

    const db = new SqliteStore(dbPath);
    try {
      expect(await checkLedger(db)).toEqual([]);
      const charged = db.sqlite.query<{ s: number }, [string]>("SELECT -sum(amount_micros) AS s FROM ledger_entries WHERE kind = 'charge' AND key_id = ?").get(c.keyId)!.s;
      const counted = db.sqlite.query<{ s: number }, [string]>("SELECT sum(spent_micros) AS s FROM budget_spend WHERE owner = ?").get(`key:${c.keyId}`)!.s;
      expect(counted).toBe(charged);
    } finally {
      db.close();
    }
  });
});
