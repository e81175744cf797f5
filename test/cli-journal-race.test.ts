/**
 * A batch the running SQLite gateway writes from its settlement journal while a CLI command reads
 * is counted once: `accounts show`, `accounts list` and `credits add` read the journal first, then
 * the account, the ledger's request ids and the hold rows as of one moment (a credit: inside its
 * own write transaction, where no batch can land). Hooks let the gateway, in this process, write
 * its batch at each point between the command's reads, as a batch due at that moment would; the
 * modules are mocked for this file alone (mock.module), so it stays a file of its own.
 */
import { afterAll, describe, expect, mock, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as accounts from "../src/modules/accounts/service";
import * as ledger from "../src/money/ledger";
import * as journal from "../src/money/settle-journal";
import { startGateway } from "./support/gateway";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { chat, user } from "./support/chat";

setDefaultTimeout(60_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-cli-race-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Point = "row" | "journal";
/** Where the gateway writes its batch next (once), and how. */
let hook: { at: Point; write: () => unknown } | null = null;
async function reached(at: Point): Promise<void> {
  if (hook?.at !== at) return;
  const { write } = hook;
  hook = null;
  await write();
}

// Each read of an account row or the start of a credit, and each read of the journal, is a point.
const { getAccountRow, listAccounts } = accounts;
const { postCredit } = ledger;
const { readJournal } = journal;
mock.module("../src/modules/accounts/service", () => ({
  ...accounts,
  getAccountRow: async (...a: Parameters<typeof getAccountRow>) => (await reached("row"), getAccountRow(...a)),
  listAccounts: async (...a: Parameters<typeof listAccounts>) => (await reached("row"), listAccounts(...a)),
}));
mock.module("../src/money/ledger", () => ({ ...ledger, postCredit: async (...a: Parameters<typeof postCredit>) => (await reached("row"), postCredit(...a)) }));
// Synchronous, as the journal is read: the gateway's batch written the moment after.
mock.module("../src/money/settle-journal", () => ({
  ...journal,
  readJournal: (...a: Parameters<typeof readJournal>) => {
    const records = readJournal(...a);
    if (hook?.at === "journal") void reached("journal");
    return records;
  },
}));

async function run(argv: string[]) {
  const { runCli } = await import("../src/cli/run");
  const { commands } = await import("../src/cli/commands");
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(commands, argv, { env: {}, version: "test", stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

/** A gateway whose batches are 10 s apart, and a 1 USD account; `charge` leaves one charge journaled and returns the balance. */
async function beside(name: string) {
  const upstream = startFakeUpstream();
  const db = join(dir, `${name}.db`);
  const server = await startGateway({ dbPath: db, config: { settle_batch_ms: 10_000, ...fakeCatalogue(upstream.url) } });
  const { accountId, key } = await server.customer(1_000_000);
  const charge = async (): Promise<number> => {
    const before = server.runtime.deps.credits.balance(accountId).balance;
    const res = await chat(server.url, key, { model: "grok-4", messages: user("hello"), mock: { completion_tokens: 20 } });
    expect(res.status).toBe(200);
    await res.text();
    const balance = server.runtime.deps.credits.balance(accountId).balance;
    expect(balance).toBeLessThan(before);
    return balance;
  };
  const writers: Record<Point, () => unknown> = {
    // As a batch due while the command awaits between two reads.
    row: () => server.runtime.deps.credits.flush(),
    journal: () => server.runtime.deps.store.catchUp?.(),
  };
  const stop = async () => {
    hook = null;
    await server.stop();
    await upstream.stop();
  };
  return { server, db, accountId, charge, stop, writeAt: (at: Point) => (hook = { at, write: writers[at] }) };
}

describe("a journaled batch written while the CLI reads", () => {
  for (const at of ["row", "journal"] as const) {
    test(`accounts show and list count it once (written at the ${at} read)`, async () => {
      const g = await beside(`show-${at}`);
      try {
        const balance = await g.charge();
        g.writeAt(at);
        const shown = JSON.parse((await run(["accounts", "show", g.accountId, "--db", g.db, "--json"])).stdout);
        expect(hook).toBeNull();
        const again = await g.charge();
        g.writeAt(at);
        const listed = JSON.parse((await run(["accounts", "list", "--db", g.db, "--json"])).stdout).data[0];
        expect(hook).toBeNull();
        expect({ shown: shown.balance_micros, listed: listed.balance_micros }).toEqual({ shown: balance, listed: again });
      } finally {
        await g.stop();
      }
    });

    test(`credits add takes exactly the available credit and prints the balance left (written at the ${at} read)`, async () => {
      const g = await beside(`credit-${at}`);
      try {
        const balance = await g.charge();
        g.writeAt(at);
        const r = await run(["credits", "add", g.accountId, (-balance / 1e6).toFixed(6), "--db", g.db, "--json"]);
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
        // Inside the credit's transaction the batch cannot land: it is written after (a credit starts no read of a row).
        if (at === "journal") expect(hook).toBeNull();
        expect(JSON.parse(r.stdout).balance_micros).toBe(0);
        // The gateway sees another connection's commit from its next event-loop turn.
        await new Promise((r) => setImmediate(r));
        await g.server.runtime.deps.credits.flush();
        expect(g.server.runtime.deps.credits.balance(g.accountId).balance).toBe(0);
      } finally {
        await g.stop();
      }
    });
  }
});
