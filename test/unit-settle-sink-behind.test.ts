/**
 * Readiness asks the settle sink whether journaled settlements wait because SQLite refused them.
 * That stays so until each refused one is written, even when newer ones are written meanwhile
 * (a refused one goes back to the end of the queue, behind them).
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SettleJournal, type SettleRecord } from "../src/money/settle-journal";
import { SettleSink } from "../src/money/settle-sink";
import type { SettleWriter, WriteOp, Written } from "../src/money/settle-writer";

const dir = mkdtempSync(join(tmpdir(), "tollgate-sink-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("behind until the refused settlement itself is written, not the next slice", () => {
  const refused = new Set(["req_bad"]);
  const writer = {
    commit: (ops: WriteOp[]): Written => ({
      outcomes: ops.map((op) => (op.t !== "hold" && refused.has(op.requestId) ? { ok: false, error: new Error("SQLITE_FULL") } : { ok: true, value: null })),
      balances: new Map(),
      keySpend: new Map(),
      budgetSpend: [],
    }),
  } as unknown as SettleWriter;
  const journal = SettleJournal.claim(join(dir, "t.db-settlements"))!;
  const sink = new SettleSink(writer, { journal, applyMs: 1_000_000, sliceSize: 1, earlyBatch: Number.POSITIVE_INFINITY, onWritten: () => {} });
  const op = (requestId: string): SettleRecord => ({ t: "release", requestId, accountId: "acc_1", keyId: null, amount: 10, charge: 0, persisted: false, at: 0 });
  sink.commit([op("req_bad"), op("req_a"), op("req_b")]);
  const slice = (sink as unknown as { applySlice: () => void }).applySlice;
  slice(); // req_bad refused: back to the end of the queue
  expect(sink.behind).toBe(true);
  slice(); // req_a written
  expect(sink.behind).toBe(true);
  refused.clear();
  slice(); // req_b
  slice(); // req_bad at last
  expect(sink.behind).toBe(false);
  journal.close();
});
