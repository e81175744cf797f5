import { and, desc, eq, lt } from "drizzle-orm";
import type { SqliteStore } from "../../store/sqlite-store";
import { auditLog } from "../../store/schema";

export interface AuditInput {
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  before?: unknown;
  after?: unknown;
}

/** Records an admin change; call inside the same transaction as the change itself. */
export function audit(store: SqliteStore, e: AuditInput, now = Date.now()): void {
  store.db.insert(auditLog)
    .values({ ...e, before: e.before ?? null, after: e.after ?? null, createdAt: now })
    .run();
}

export function listAudit(store: SqliteStore, q: { limit: number; before?: number; targetId?: string }) {
  const where = and(
    q.before ? lt(auditLog.id, q.before) : undefined,
    q.targetId ? eq(auditLog.targetId, q.targetId) : undefined,
  );
  return store.db.select().from(auditLog).where(where).orderBy(desc(auditLog.id)).limit(q.limit).all();
}
