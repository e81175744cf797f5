import type { Statement } from "bun:sqlite";
import type { SqliteStore } from "../store/sqlite-store";

export interface StoredObject {
  id: string;
  kind: "response";
  accountId: string;
  keyId: string | null;
  /** The upstream key (`<provider>#<n>`) that holds it. */
  target: string;
  model: string;
  tokens: number;
  chargeMicros: number;
  createdAt: number;
}

type Row = { id: string; kind: string; account_id: string; key_id: string | null; target: string; model: string; tokens: number; charge_micros: number; created_at: number };

/**
 * Who owns each object created upstream through the shared key (stored responses), so that
 * reads, deletions and continuations by any other account are a 404 (the upstream would serve
 * anyone who knows an id). One indexed lookup per reference.
 */
export class StoredObjects {
  private readonly q: { get: Statement<Row, [string]>; put: Statement; del: Statement };

  constructor(private readonly store: SqliteStore) {
    const s = store.sqlite;
    this.q = {
      get: s.query("SELECT * FROM upstream_objects WHERE id = ?"),
      put: s.query(
        `INSERT INTO upstream_objects (id, kind, account_id, key_id, target, model, tokens, charge_micros, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING`,
      ),
      del: s.query("DELETE FROM upstream_objects WHERE id = ?"),
    };
  }

  /** The object if it exists and belongs to `accountId`; null otherwise (the caller answers 404 either way). */
  owned(id: string, accountId: string): StoredObject | null {
    const r = this.q.get.get(id);
    if (!r || r.account_id !== accountId) return null;
    return { id: r.id, kind: "response", accountId: r.account_id, keyId: r.key_id, target: r.target, model: r.model, tokens: r.tokens, chargeMicros: r.charge_micros, createdAt: r.created_at };
  }

  /** Records an object for its owner (once: the first creator of an id keeps it). */
  record(o: StoredObject): void {
    this.store.write(() => this.q.put.run(o.id, o.kind, o.accountId, o.keyId, o.target, o.model, o.tokens, o.chargeMicros, o.createdAt));
  }

  remove(id: string): void {
    this.store.write(() => this.q.del.run(id));
  }
}
