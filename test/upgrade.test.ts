import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkLedger } from "../src/money/ledger";
import { SqliteStore } from "../src/store/sqlite-store";
import { BIN, ensureBinary } from "./support/binary";
import { chat, until, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

/**
 * The upgrade of docs/operations.md with the compiled binary: while clients stream, SIGTERM the
 * running gateway (requests in flight finish), back it up (then the backup holds all it
 * acknowledged), `tollgate migrate`, start the new binary on the same database and port. Clients retry what was refused (503 while draining, or no listener for a
 * moment), as the OpenAI SDKs do: no request is lost, each is charged once, the ledger is exact.
 * (Both runs use this build's binary: what is tested is the procedure.)
 */
setDefaultTimeout(120_000);
const ADMIN = "upgrade-admin-token-0123456789";
const CREDITS = 50_000_000;
const N = 60;
const dir = mkdtempSync(join(tmpdir(), "tollgate-upgrade-"));
const upstream = startFakeUpstream();
const running: BinaryGateway[] = [];

afterAll(async () => {
  for (const b of running) await b.stop("SIGKILL");
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  requestId: string | null;
  done: boolean;
  retries: number;
  startedAt: number;
  endedAt: number;
  broken: boolean;
}

/** One logical request: retried while the gateway refuses it or is not listening; a broken stream is a loss. */
async function request(url: string, key: string, tokens: number): Promise<Outcome> {
  const o: Outcome = { requestId: null, done: false, retries: 0, startedAt: 0, endedAt: 0, broken: false };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    o.startedAt = Date.now();
    let res: Response;
    try {
      res = await chat(url, key, { model: "grok-4", stream: true, messages: user(`upgrade ${tokens}`), mock: { completion_tokens: tokens, chunk_delay_ms: 25 } });
    } catch {
      o.retries++;
      await Bun.sleep(50);
      continue;
    }
    if (res.status === 503) {
      await res.body?.cancel();
      o.retries++;
      await Bun.sleep(50);
      continue;
    }
    o.requestId = res.headers.get("x-request-id");
    try {
      const text = await res.text();
      o.done = res.status === 200 && text.includes("data: [DONE]");
      o.broken = !o.done;
    } catch {
      o.broken = true;
    }
    o.endedAt = Date.now();
    return o;
  }
  return o;
}

async function freePort(): Promise<number> {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port!;
  await s.stop(true);
  return port;
}

test("SIGTERM under load, migrate, start the new binary: nothing lost, each request charged once", async () => {
  await ensureBinary();
  const dbPath = join(dir, "tollgate.db");
  const config = join(dir, "tollgate.json");
  writeFileSync(config, JSON.stringify({ ...fakeCatalogue(upstream.url), db_path: dbPath }));
  const env = { PORT: String(await freePort()) };
  const start = async () => {
    const b = await startBinaryGateway({ dir, configFile: "tollgate.json", adminToken: ADMIN, env });
    running.push(b);
    return b;
  };
  const old = await start();
  const { accountId, key } = await old.customer(CREDITS, {}, { name: "Upgrade Co" });

  // 60 streams, 12 at a time, 5 to 25 tokens at 25 ms a token.
  const outcomes: Outcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      outcomes[i] = await request(old.url, key, 5 + ((i * 7) % 21));
    }
  };
  const load = Promise.all(Array.from({ length: 12 }, worker));
  expect(await until(() => outcomes.filter((o) => o?.done).length >= N / 4, 20_000)).toBe(true);

  const sigtermAt = Date.now();
  expect(await old.stop("SIGTERM")).toBe(0);
  expect(old.output()).toContain("SIGTERM: shutting down");
  // The backup of docs/operations.md, by the old binary after its stop: all it acknowledged.
  const acknowledged = outcomes.filter((o) => o?.done).map((o) => o.requestId!);
  const backupFile = join(dir, `pre-upgrade-${Date.now()}.db`);
  const backup = Bun.spawnSync([BIN, "--config", config, "backup", backupFile], { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir } });
  expect(backup.exitCode).toBe(0);
  const migrate = Bun.spawnSync([BIN, "migrate", "--config", config], { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir } });
  expect(migrate.exitCode).toBe(0);
  const fresh = await start();
  expect(fresh.url).toBe(old.url);
  await load;
  expect(await fresh.stop("SIGTERM")).toBe(0);

  // Nothing lost: every request completed, including those in flight when SIGTERM came.
  expect(outcomes.filter((o) => !o.done || o.broken)).toEqual([]);
  expect(outcomes.filter((o) => o.startedAt < sigtermAt && o.endedAt > sigtermAt).length).toBeGreaterThan(0);
  expect(outcomes.some((o) => o.retries > 0)).toBe(true);

  // Each request charged exactly once, the balance the sum of the ledger, no hold left.
  const db = new SqliteStore(dbPath);
  try {
    expect(await checkLedger(db)).toEqual([]);
    expect(db.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM credit_holds").get()!.n).toBe(0);
    const charges = db.sqlite
      .query<{ request_id: string; amount_micros: number }, [string]>("SELECT request_id, amount_micros FROM ledger_entries WHERE account_id = ? AND kind = 'charge'")
      .all(accountId);
    expect(charges.map((c) => c.request_id).sort()).toEqual(outcomes.map((o) => o.requestId!).sort());
    const usage = db.sqlite.query<{ n: number; cost: number }, [string]>("SELECT count(*) AS n, sum(cost_micros) AS cost FROM usage_log WHERE account_id = ?").get(accountId)!;
    const charged = -charges.reduce((s, c) => s + c.amount_micros, 0);
    expect(usage).toEqual({ n: N, cost: charged });
    const balance = db.sqlite.query<{ b: number }, [string]>("SELECT balance_micros AS b FROM accounts WHERE id = ?").get(accountId)!.b;
    expect(balance).toBe(CREDITS - charged);
  } finally {
    db.close();
  }
  // What a rollback would restore holds every charge the old binary acknowledged.
  const copy = new SqliteStore(backupFile);
  try {
    expect(await checkLedger(copy)).toEqual([]);
    const inBackup = new Set(copy.sqlite.query<{ request_id: string }, []>("SELECT request_id FROM ledger_entries WHERE kind = 'charge'").all().map((r) => r.request_id));
    expect(acknowledged.filter((id) => !inBackup.has(id))).toEqual([]);
  } finally {
    copy.close();
  }
});
