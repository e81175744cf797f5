import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { AuditList, AuditQuery } from "./model";
import { listAudit } from "./service";

export const auditModule = (deps: ModuleDeps) =>
  new Elysia({ prefix: "/admin", tags: ["admin"] })
    .use(deps.auth)
    .get(
      "/audit",
      async ({ query }) => {
        const rows = await listAudit(deps.store, { limit: query.limit + 1, before: query.before, targetId: query.target_id });
        return {
          object: "list" as const,
          has_more: rows.length > query.limit,
          data: rows.slice(0, query.limit).map((r) => ({
            id: r.id,
            actor: r.actor,
            action: r.action,
            target_type: r.targetType,
            target_id: r.targetId,
            before: r.before,
            after: r.after,
            created_at: Math.floor(r.createdAt / 1000),
          })),
        };
      },
      { admin: true, query: AuditQuery, response: AuditList, detail: { summary: "Audit log of admin changes, newest first" } },
    );
