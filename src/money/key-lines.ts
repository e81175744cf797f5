import { newestOfLine } from "../gateway/key-row";
import type { SqliteStore } from "../store/sqlite-store";
import { StampedMemo } from "../store/stamped-memo";

/**
 * The newest key of each key's line as SQLite has it (re-read once the database changed): a key
 * rotated by another process (the CLI) is learnt from there, and its requests still in flight
 * are charged to the line's newest key, which carries the line's spend and budget.
 */
export class KeyLines {
  private readonly memo: StampedMemo<string>;

  constructor(store: SqliteStore) {
    const next = store.sqlite.query<{ rotated_to: string | null }, [string]>("SELECT rotated_to FROM api_keys WHERE id = ?");
    this.memo = new StampedMemo(store, (id) => newestOfLine(id, (k) => next.get(k)?.rotated_to ?? null));
  }

  /** As of the last change check: a settlement runs in a turn of its own, where a check costs a read transaction. */
  newest(keyId: string): string {
    return this.memo.recent(keyId);
  }
}
