import type { Database, Statement } from "bun:sqlite";

/**
 * A number that changes whenever the database may have changed since it was last taken: any
 * write on this connection (total_changes(), checked on every call) or a commit by another
 * connection, such as the CLI in another process (PRAGMA data_version, read at most once per
 * event-loop turn). The request path keeps rows it read under the same stamp instead of reading
 * SQLite again for every request; a write here is seen at once, one elsewhere from the next turn.
 */
export class ChangeWatch {
  private readonly changesQuery: Statement<{ n: number }, []>;
  private readonly dataVersion: Statement<{ data_version: number }, []>;
  private changes = -1;
  private version = -1;
  private epoch = 0;
  private checkedThisTurn = false;
  private readonly newTurn = () => {
    this.checkedThisTurn = false;
  };

  constructor(sqlite: Database) {
    this.changesQuery = sqlite.query("SELECT total_changes() AS n");
    this.dataVersion = sqlite.query("PRAGMA data_version");
  }

  totalChanges(): number {
    return this.changesQuery.get()!.n;
  }

  /** The changes since `before` were absorbed by their writer: seen, without a new epoch. */
  absorb(before: number): void {
    if (this.changes === before) this.changes = this.totalChanges();
  }

  /** The stamp as the last `stamp()` left it. */
  get taken(): number {
    return this.epoch;
  }

  stamp(): number {
    const n = this.totalChanges();
    if (n !== this.changes) {
      this.changes = n;
      this.epoch++;
    }
    if (!this.checkedThisTurn) {
      this.checkedThisTurn = true;
      setImmediate(this.newTurn);
      const v = this.dataVersion.get()!.data_version;
      if (v !== this.version) {
        this.version = v;
        this.epoch++;
      }
    }
    return this.epoch;
  }
}
