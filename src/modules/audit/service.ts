import { and, desc, eq, lt } from "drizzle-orm";
import type { Store } from "../../store/store";
import { all, run, type Q, type Work } from "../../store/work";

export interface AuditInput {
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  before?: unknown;
  after?: unknown;
}

/** Records an admin change: part of the unit of work that makes the change. */
export function* recordAudit(q: Q, e: AuditInput, now: number): Work<void> {
  yield* run(q.db.insert(q.t.auditLog).values({ ...e, before: e.before ?? null, after: e.after ?? null, createdAt: now }));
}

export function listAudit(store: Store, f: { limit: number; before?: number; targetId?: string }) {
  return store.read((q) => {
    const l = q.t.auditLog;
    const where = and(f.before ? lt(l.id, f.before) : undefined, f.targetId ? eq(l.targetId, f.targetId) : undefined);
    return all(q.db.select().from(l).where(where).orderBy(desc(l.id)).limit(f.limit));
  });
}
