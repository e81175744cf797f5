import { and, asc, eq, inArray, lt } from "drizzle-orm";
import type { StoredObjectRow } from "../money/credit-store";
import { itemRows } from "../money/settle-writer";
import type { Store } from "../store/store";
import { all, get, run, type Q, type Work } from "../store/work";
import { reaches, type Asker } from "./reach";

export type StoredObject = StoredObjectRow;

/** A recorded object, and whether the caller may reach it (see reaches). */
export type Recorded = StoredObject & { mine: boolean };

/** Ids per lookup: well within either database's limit on bound parameters. */
const CHUNK = 500;

/**
 * Who owns each object created upstream through the shared key (stored responses, and the items
 * stored with them), so that reads, deletions, continuations and item references by any other
 * account are a 404 (the upstream would serve anyone who knows an id). An object is recorded with
 * its request's settlement (SettleExtras.object and .items); this reads them (one indexed lookup
 * for all of a request's references), removes them, and records the input items an owner's
 * listing shows.
 */
export class StoredObjects {
  constructor(private readonly store: Store) {}

  /** The stored response if it exists and `who` may reach it (see reaches); null otherwise (the caller answers 404 either way). */
  async owned(id: string, who: Asker): Promise<StoredObject | null> {
    let r = await this.find(id);
    if (!r && this.caughtUp()) r = await this.find(id);
    return r && (await reaches(this.store, who, r)) ? asObject(r) : null;
  }

  /**
   * Which of `ids` are recorded (responses or items, anyone's), each with whether `who` may reach
   * it; an id absent from the map is recorded for nobody. The reach rule is asked once per owner
   * key and model, however many ids share them. A miss looks again after caughtUp.
   */
  async recorded(ids: readonly string[], who: Asker): Promise<Map<string, Recorded>> {
    const wanted = [...new Set(ids)];
    let rows = await this.findAll(wanted);
    if (rows.length < wanted.length && this.caughtUp()) rows = await this.findAll(wanted);
    const verdicts = new Map<string, Promise<boolean>>();
    const out = new Map<string, Recorded>();
    for (const r of rows) {
      const owner = `${r.accountId} ${r.keyId} ${r.model}`;
      let mine = verdicts.get(owner);
      if (!mine) verdicts.set(owner, (mine = reaches(this.store, who, r)));
      out.set(r.id, { ...asObject(r), mine: await mine });
    }
    return out;
  }

  /**
   * Records `ids` (items the upstream listed for `of`, a response the caller reached) for the
   * response's owner and upstream key; an id recorded already keeps its first owner.
   */
  async learn(of: StoredObject, ids: readonly string[], now = Date.now()): Promise<void> {
    const fresh = [...new Set(ids)].filter((id) => id !== of.id);
    if (fresh.length === 0) return;
    const rows = itemRows(of, fresh, now);
    await this.store.tx((q) => run(q.db.insert(q.t.upstreamObjects).values(rows).onConflictDoNothing()));
  }

  /**
   * Writes the journal out when it holds stored objects SQLite lacks (SQLite: a response just
   * answered, its settlement only journaled); true when there were any, and a miss may look again.
   * Most misses are items a caller sends with its own content and ids, and that write is not free.
   */
  private caughtUp(): boolean {
    if (!this.store.objectsPending?.()) return false;
    this.store.catchUp?.();
    return true;
  }

  private find(id: string) {
    // Only a response: an item's id is no response to read, delete or continue.
    return this.store.read((q) => {
      const o = q.t.upstreamObjects;
      return get(q.db.select().from(o).where(and(eq(o.id, id), eq(o.kind, "response"))));
    });
  }

  private async findAll(ids: readonly string[]) {
    const found = [];
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      found.push(...(await this.store.read((q) => all(q.db.select().from(q.t.upstreamObjects).where(inArray(q.t.upstreamObjects.id, chunk))))));
    }
    return found;
  }

  async remove(id: string): Promise<void> {
    await this.store.tx((q) => run(q.db.delete(q.t.upstreamObjects).where(eq(q.t.upstreamObjects.id, id))));
  }

  /**
   * Forgets the objects recorded before `before`, which the upstream has forgotten too (it keeps
   * a stored response about 30 days), oldest first, in slices of at most `sliceRows` rows: each
   * its own short transaction, with the event loop free between them, so requests never wait
   * long behind it however many are due. Returns how many it deleted.
   */
  async prune(before: number, sliceRows = PRUNE_SLICE_ROWS): Promise<number> {
    const n = Math.max(1, Math.floor(sliceRows));
    let deleted = 0;
    for (;;) {
      const slice = await this.store.tx((q) => pruneSlice(q, before, n));
      deleted += slice;
      if (slice < n) return deleted;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

/** Rows deleted per transaction by prune: a slice this size takes a few milliseconds. */
export const PRUNE_SLICE_ROWS = 1024;

/** The oldest `sliceRows` objects recorded before `before`, deleted (found through the created_at index). */
function* pruneSlice(q: Q, before: number, sliceRows: number): Work<number> {
  const o = q.t.upstreamObjects;
  const oldest = q.db.select({ id: o.id }).from(o).where(lt(o.createdAt, before)).orderBy(asc(o.createdAt)).limit(sliceRows);
  return (yield* run(q.db.delete(o).where(inArray(o.id, oldest)))).changes;
}

/** A row as read (its kind a plain string) as the object it records. */
const asObject = (r: Omit<StoredObject, "kind"> & { kind: string }): StoredObject => ({ ...r, kind: r.kind === "item" ? "item" : "response" });

/** The ids of a list of items (a response's `output`, an input-item list's `data`), each once; anything else in it is skipped. */
export function itemIds(items: unknown): string[] {
  if (!Array.isArray(items)) return [];
  const ids = new Set<string>();
  for (const item of items) {
    const id = (item as { id?: unknown } | null)?.id;
    if (typeof id === "string" && id.length > 0 && id.length <= MAX_ID) ids.add(id);
  }
  return [...ids];
}

/** Longer ids are no upstream's; recording them would only let a row grow. */
const MAX_ID = 256;
