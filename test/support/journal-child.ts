/**
 * Child process for test/settle-journal.test.ts: settles requests with a journal that is never
 * applied (its batch interval is an hour, and no batch is written early), prints what it
 * charged, then waits to be killed.
 * Usage: bun test/support/journal-child.ts <db path> <journal path> <requests>
 */
import { SettleJournal } from "../../src/money/settle-journal";
import { SqliteCreditStore } from "../../src/money/sqlite-credit-store";
import { freshDb, seedAccount, seedKey } from "./foundation";

const [dbPath, journalPath, n] = process.argv.slice(2) as [string, string, string];
const db = freshDb(dbPath);
const accountId = seedAccount(db, 100_000_000, "Journal Co");
const keyId = seedKey(db, accountId).row.id;
const store = new SqliteCreditStore(db, { holdTtlMs: 60_000, journal: SettleJournal.open(journalPath), applyMs: 3_600_000, applyEarly: Number.POSITIVE_INFINITY });
const charged: Record<string, number> = {};
await Promise.all(
  Array.from({ length: Number(n) }, async (_, i) => {
    const requestId = `req_child_${i}`;
    store.reserve({ accountId, keyId, requestId, amount: 10_000 });
    await new Promise((r) => setTimeout(r, i % 7));
    const cost = 1 + ((i * 37) % 9_000);
    const usage = {
      requestId, accountId, keyId, model: "grok-4", stream: false, status: 200, promptTokens: 3, cachedTokens: 0,
      completionTokens: i, reasoningTokens: 0, costMicros: cost, estimated: false, latencyMs: 1, ttftMs: null,
      upstreamRequestId: null, errorCode: null, createdAt: Date.now(),
    };
    const r = await store.settle(requestId, cost, { note: "grok-4", usage });
    charged[requestId] = r!.charged;
  }),
);
console.log(JSON.stringify({ accountId, keyId, charged }));
setInterval(() => {}, 1_000);
