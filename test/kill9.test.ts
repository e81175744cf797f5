import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../src/store/sqlite-store";
import { checkLedger } from "../src/money/ledger";
import { ensureBinary } from "./support/binary";
import { chat, until, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

/**
 * `kill -9` of the compiled binary in the middle of many streaming requests, then a restart on
 * the same database: the ledger is intact, no hold survives, and every request whose client
 * received `[DONE]` is charged exactly once (a charge commits before `[DONE]` is sent).
 */
setDefaultTimeout(120_000);
const ADMIN = "kill9-admin-token-0123456789";
const CREDITS = 50_000_000;
const N = 40;
const dir = mkdtempSync(join(tmpdir(), "tollgate-kill9-"));
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
  finished: boolean;
}

/** Streams one request to its end (or until the connection dies), noting whether [DONE] came. */
async function stream(url: string, key: string, tokens: number, out: Outcome): Promise<void> {
  try {
    const res = await chat(url, key, { model: "grok-4", messages: user(`request with ${tokens} tokens`), stream: true, mock: { completion_tokens: tokens, chunk_delay_ms: 40 } });
    out.requestId = res.headers.get("x-request-id");
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += decoder.decode(r.value, { stream: true });
      if (text.includes("data: [DONE]")) out.done = true;
    }
  } catch {
    // the gateway died under us
  } finally {
    out.finished = true;
  }
}

describe("kill -9 mid-stream, then restart", () => {
  test("no charge lost or doubled, no hold left, ledger intact", async () => {
    await ensureBinary();
    const dbPath = join(dir, "tollgate.db");
    writeFileSync(join(dir, "tollgate.json"), JSON.stringify({ ...fakeCatalogue(upstream.url), db_path: dbPath }));
    const start = async () => {
      const b = await startBinaryGateway({ dir, configFile: "tollgate.json", adminToken: ADMIN });
      running.push(b);
      return b;
    };
    let gw = await start();
    const customer = await gw.customer(CREDITS, {}, { name: "Kill Nine Co" });
    const accountId = customer.accountId;
    const key = customer.key;

    // Lengths from 2 to 80 tokens at 40 ms a token: some streams end early, others run for seconds.
    const outcomes: Outcome[] = Array.from({ length: N }, () => ({ requestId: null, done: false, finished: false }));
    const all = Promise.all(outcomes.map((o, i) => stream(gw.url, key, 2 + ((i * 37) % 79), o)));
    expect(await until(() => outcomes.filter((o) => o.done).length >= N / 4, 20_000)).toBe(true);
    gw.proc.kill("SIGKILL");
    await gw.proc.exited;
    await all;
    const done = outcomes.filter((o) => o.done);
    const cut = outcomes.filter((o) => !o.done);
    expect(done.length).toBeGreaterThan(0);
    expect(cut.length).toBeGreaterThan(0);

    gw = await start();
    // Holds of the killed process are released at start.
    expect(gw.output()).toMatch(/released \d+ hold\(s\) left by a previous process/);
    const acc = await gw.account(accountId);
    expect(acc.held_micros).toBe(0);
    // The restarted gateway serves and charges normally.
    const res = await chat(gw.url, key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 10, completion_tokens: 2 } });
    expect(res.status).toBe(200);
    const last = res.headers.get("x-request-id")!;
    expect(await gw.stop("SIGTERM")).toBe(0);

    const db = new SqliteStore(dbPath);
    const sqlite = db.sqlite;
    try {
      expect(await checkLedger(db)).toEqual([]);
      expect(sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM credit_holds").get()!.n).toBe(0);
      const rows = sqlite
        .query<{ request_id: string; amount_micros: number }, [string]>("SELECT request_id, amount_micros FROM ledger_entries WHERE account_id = ? AND kind = 'charge'")
        .all(accountId);
      const count = new Map<string, number>();
      for (const r of rows) count.set(r.request_id, (count.get(r.request_id) ?? 0) + 1);
      for (const o of done) expect(count.get(o.requestId!)).toBe(1);
      expect([...count.values()].every((n) => n === 1)).toBe(true);
      expect(count.get(last)).toBe(1);
      // Charges only for requests that were made, and the balance is credits minus their sum.
      const made = new Set([...outcomes.map((o) => o.requestId), last]);
      for (const id of count.keys()) expect(made.has(id)).toBe(true);
      const balance = sqlite.query<{ b: number }, [string]>("SELECT balance_micros AS b FROM accounts WHERE id = ?").get(accountId)!.b;
      expect(balance).toBe(CREDITS + rows.reduce((s, r) => s + r.amount_micros, 0));
    } finally {
      sqlite.close();
    }
  });
});
