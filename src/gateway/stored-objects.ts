import { eq } from "drizzle-orm";
import type { StoredObjectRow } from "../money/credit-store";
import type { Store } from "../store/store";
import { get, run } from "../store/work";
import { reaches, type Asker } from "./reach";

export type StoredObject = StoredObjectRow;

/**
 * Who owns each object created upstream through the shared key (stored responses), so that
 * reads, deletions and continuations by any other account are a 404 (the upstream would serve
 * anyone who knows an id). An object is recorded with its request's settlement (SettleExtras.object);
 * this reads and removes them, one indexed lookup per reference.
 */
export class StoredObjects {
  constructor(private readonly store: Store) {}

  /** The object if it exists and `who` may reach it (see reaches); null otherwise (the caller answers 404 either way). */
  async owned(id: string, who: Asker): Promise<StoredObject | null> {
    let r = await this.find(id);
    // Not written yet: its settlement may be only journaled (SQLite), and its answer has gone out.
    if (!r && this.store.catchUp) {
      this.store.catchUp();
      r = await this.find(id);
    }
    return r && (await reaches(this.store, who, r)) ? { ...r, kind: "response" } : null;
  }

  private find(id: string) {
    return this.store.read((q) => get(q.db.select().from(q.t.upstreamObjects).where(eq(q.t.upstreamObjects.id, id))));
  }

  async remove(id: string): Promise<void> {
    await this.store.tx((q) => run(q.db.delete(q.t.upstreamObjects).where(eq(q.t.upstreamObjects.id, id))));
  }
}
