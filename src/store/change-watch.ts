import type { Database, Statement } from "bun:sqlite";

/**
 * A number that changes whenever the database may have changed since it was last taken: any
 * row this connection writes (SQLite's update hook, counted as it happens) or a commit by another
 * connection, such as the CLI in another process (PRAGMA data_version, read at most once per
 * event-loop turn). The request path keeps rows it read under the same stamp instead of reading
 * SQLite again for every request; a write here is seen at once, one elsewhere from the next turn.
 *
 * The hook misses what SQLite does not report (a DELETE without WHERE empties a table in one
 * step; WITHOUT ROWID tables): total_changes() is compared once per turn too, so such a write
 * is seen from the next turn at the latest. No table the memos read is written so.
 */
export class ChangeWatch {
  private readonly changesQuery: Statement<{ n: number }, []>;
  private readonly dataVersion: Statement<{ data_version: number }, []>;
  /** Rows written through this connection, as the update hook counts them. */
  private written = 0;
  private seenWritten = -1;
  /** total_changes() and `written` at the last turn's check. */
  private changes = -1;
  private writtenAtCheck = 0;
  private version = -1;
  private epoch = 0;
  private checkedThisTurn = false;
  private readonly newTurn = () => {
    this.checkedThisTurn = false;
  };

  constructor(sqlite: Database) {
    this.changesQuery = sqlite.query("SELECT total_changes() AS n");
    this.dataVersion = sqlite.query("PRAGMA data_version");
    const count = () => {
      this.written++;
    };
    sqlite.onInsert = count;
    sqlite.onUpdate = count;
    sqlite.onDelete = count;
  }

  /** A mark of this connection's writes so far (see absorb). */
  mark(): number {
    return this.written;
  }

  /** The writes since `before` were absorbed by their writer: seen, without a new epoch. */
  absorb(before: number): void {
    if (this.seenWritten === before) this.seenWritten = this.written;
  }

  /** The stamp as the last `stamp()` left it. */
  get taken(): number {
    return this.epoch;
  }

  stamp(): number {
    if (this.written !== this.seenWritten) {
      this.seenWritten = this.written;
      this.epoch++;
    }
    if (!this.checkedThisTurn) this.checkTurn();
    return this.epoch;
  }

  /**
   * Once per turn: other connections' commits, and changes the hook did not report (total_changes()
   * moved further than the rows it counted since the last check: it counts a trigger's rows too).
   */
  private checkTurn(): void {
    this.checkedThisTurn = true;
    setImmediate(this.newTurn);
    const v = this.dataVersion.get()!.data_version;
    const n = this.changesQuery.get()!.n;
    if (v !== this.version || n - this.changes > this.written - this.writtenAtCheck) this.epoch++;
    this.version = v;
    this.changes = n;
    this.writtenAtCheck = this.written;
  }
}
