/**
 * An agent loop echoes its last response's output items with their content right after the answer
 * (a local tool call takes milliseconds; the journal reaches SQLite settle_batch_ms later): those
 * items are journaled, not in SQLite yet. They are still found: the request is pinned to the
 * upstream key that stores them, and another account's copy is a 404.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkReferences } from "../src/gateway/dialects/responses-refs";
import { StoredObjects } from "../src/gateway/stored-objects";
import { SettleJournal } from "../src/money/settle-journal";
import { SqliteCreditStore } from "../src/money/sqlite-credit-store";
import { freshDb, seedAccount, seedKey } from "./support/foundation";

test("items echoed with content right after their response are still pinned / refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tg-scratch-items-"));
  try {
    const db = freshDb(join(dir, "t.db"));
    const accountId = seedAccount(db, 10_000_000);
    const other = seedAccount(db, 10_000_000, "Other");
    const keyId = seedKey(db, accountId).row.id;
    const journal = SettleJournal.open(join(dir, "t.db-settlements"));
    const store = new SqliteCreditStore(db, { holdTtlMs: 60_000, journal, applyMs: 3_600_000 });
    const object = { id: "resp_j1", kind: "response" as const, accountId, keyId, target: "xai#1", model: "grok-4", tokens: 40, chargeMicros: 120, createdAt: 5 };
    store.reserve({ accountId, keyId, requestId: "r1", amount: 1_000 });
    await store.settle("r1", 120, { object, items: ["msg_j1", "rs_j1"] });
    const objects = new StoredObjects(db);
    const echoed = {
      input: [
        { type: "reasoning", id: "rs_j1", summary: [] },
        { type: "message", role: "assistant", id: "msg_j1", content: [{ type: "output_text", text: "hello" }] },
        { type: "message", role: "user", content: "go on" },
      ],
    };
    const own = await checkReferences(structuredClone(echoed) as never, { principal: { accountId }, objects } as never);
    const theirs = await Promise.resolve()
      .then(() => checkReferences(structuredClone(echoed) as never, { principal: { accountId: other }, objects } as never))
      .then(
      () => "passed",
      (e: { status?: number }) => e.status,
    );
    expect({ own, theirs }).toEqual({ own: { pin: "xai#1", historyTokens: 0 }, theirs: 404 });
    journal.close();
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
