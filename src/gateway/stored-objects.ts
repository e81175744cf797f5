import { eq, sql } from "drizzle-orm";
import type { upstreamObjects } from "../store/schema";
import type { Store } from "../store/store";
import { get, run } from "../store/work";

export type StoredObject = Omit<typeof upstreamObjects.$inferSelect, "kind"> & { kind: "response" };

/**
 * Who owns each object created upstream through the shared key (stored responses), so that
 * reads, deletions and continuations by any other account are a 404 (the upstream would serve
 * anyone who knows an id). One indexed lookup per reference.
 */
export class StoredObjects {
  constructor(private readonly store: Store) {}

  /** The object if it exists and belongs to `accountId`; null otherwise (the caller answers 404 either way). */
  async owned(id: string, accountId: string): Promise<StoredObject | null> {
    const r = await this.store.read((q) => get(q.db.select().from(q.t.upstreamObjects).where(eq(q.t.upstreamObjects.id, id))));
    return r && r.accountId === accountId ? { ...r, kind: "response" } : null;
  }

  /**
   * Records an object for its owner (once: the first creator of an id keeps it). On every
   * Responses request: one fixed statement, and a write that leaves the memos of keys and accounts alone.
   */
  async record(o: StoredObject): Promise<void> {
    await this.store.tx(
      () =>
        run(sql`INSERT INTO upstream_objects (id, kind, account_id, key_id, target, model, tokens, charge_micros, created_at)
          VALUES (${o.id}, ${o.kind}, ${o.accountId}, ${o.keyId}, ${o.target}, ${o.model}, ${o.tokens}, ${o.chargeMicros}, ${o.createdAt}) ON CONFLICT DO NOTHING`),
      { absorbed: true },
    );
  }

  async remove(id: string): Promise<void> {
    await this.store.tx((q) => run(q.db.delete(q.t.upstreamObjects).where(eq(q.t.upstreamObjects.id, id))));
  }
}
