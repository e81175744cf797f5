/**
 * The CLI next to a running SQLite gateway counts a request's hold once. A hold open longer than
 * 200 ms has a credit_holds row for other processes; once its request is settled (or released),
 * the settlement waits in the journal and the row is deleted only when that batch reaches SQLite.
 * Meanwhile the CLI counts the journaled charge, not the row as well: `accounts show` and
 * `accounts list` show no credit held that no request holds, and a negative `credits add` of what
 * the gateway itself says is available is taken.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { journalPath, type SettleRecord } from "../src/money/settle-journal";
import { startGateway } from "./support/gateway";
import { chat, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";

// Every test spawns CLI processes (bunfig's timeout is not applied to a single file's run).
setDefaultTimeout(60_000);
const ENTRY = resolve(import.meta.dir, "../src/index.ts");
const dir = mkdtempSync(join(tmpdir(), "tollgate-cli-holds-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, ENTRY, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

const json = async (args: string[]) => JSON.parse((await cli([...args, "--json"])).stdout);

describe("next to a running server, a journaled settlement's hold row", () => {
  test("is not counted as held: show and list agree with the gateway, and its available credit can be taken", async () => {
    const upstream = startFakeUpstream();
    const db = join(dir, "held.db");
    // Batches far apart (as while another process holds the database lock): the charge stays journaled.
    const server = await startGateway({ dbPath: db, config: { settle_batch_ms: 10_000, ...fakeCatalogue(upstream.url) } });
    try {
      const { accountId, key } = await server.customer(1_000_000);
      // Longer than 200 ms: its hold row is written for other processes to see.
      const res = await chat(server.url, key, { model: "grok-4", messages: user("hello"), mock: { completion_tokens: 20, delay_ms: 600 } });
      expect(res.status).toBe(200);
      await res.text();
      const gw = server.runtime.deps.credits.balance(accountId);
      expect(gw.held).toBe(0);
      const books = new Database(db, { readonly: true });
      // The row is still there, with the charge in the journal only.
      expect(books.query("SELECT count(*) AS n FROM credit_holds").get()).toEqual({ n: 1 });
      books.close();

      const shown = await json(["accounts", "show", accountId, "--db", db]);
      const listed = (await json(["accounts", "list", "--db", db])).data.find((a: { id: string }) => a.id === accountId);
      const adjust = await cli(["credits", "add", accountId, (-gw.balance / 1e6).toFixed(6), "--db", db]);
      const views = [shown, listed].map((a) => ({ balance: a.balance_micros, held: a.held_micros, available: a.available_micros }));
      expect({ views, adjustExit: adjust.code, adjustErr: adjust.stderr.trim() }).toEqual({
        views: Array(2).fill({ balance: gw.balance, held: 0, available: gw.balance }),
        adjustExit: 0,
        adjustErr: "",
      });
      expect(server.runtime.deps.credits.balance(accountId).balance).toBe(0);
    } finally {
      await server.stop();
      await upstream.stop();
    }
  });

  test("of a release is not held either; a hold made after the journaled one, under the same request id, is", async () => {
    const db = join(dir, "crafted.db");
    const accountId = (await json(["accounts", "create", "Holds Co", "--db", db])).id as string;
    expect((await cli(["credits", "add", accountId, "10", "--db", db])).code).toBe(0);
    const t0 = Date.now();
    const books = new Database(db);
    const hold = books.query("INSERT INTO credit_holds (request_id, account_id, amount_micros, expires_at, created_at) VALUES (?, ?, ?, ?, ?)");
    hold.run("req_released", accountId, 1_000_000, t0 + 60_000, t0);
    hold.run("req_again", accountId, 2_000_000, t0 + 60_000, t0 + 10);
    hold.run("req_open", accountId, 3_000_000, t0 + 60_000, t0);
    books.close();
    const record = (t: SettleRecord["t"], requestId: string, charge: number): SettleRecord => ({ t, requestId, accountId, keyId: null, amount: 1_000_000, charge, persisted: true, at: t0 + 5 });
    // req_released's release and req_again's first charge wait in the journal; req_again was held again after it.
    writeFileSync(journalPath(db), [record("release", "req_released", 0), record("settle", "req_again", 500_000)].map((r) => `${JSON.stringify(r)}\n`).join(""));

    const shown = await json(["accounts", "show", accountId, "--db", db]);
    expect({ balance: shown.balance_micros, held: shown.held_micros, available: shown.available_micros }).toEqual({
      balance: 9_500_000,
      held: 5_000_000,
      available: 4_500_000,
    });
  });
});
