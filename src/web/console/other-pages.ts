import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { listAudit } from "../../modules/audit/service";
import { consoleKit, hide } from "./page-kit";
import { auditView, modelsView } from "./views/other";

/** The configured models and their prices. */
export const modelsPages = (deps: ModuleDeps) => {
  const { safe, render } = consoleKit(deps);
  return new Elysia()
    .use(deps.webAuth)
    .get("/console/models", ({ request, operator }) => safe(request, () => render(request, operator, "models", "Models and prices", modelsView(deps.config))), hide());
};

/** The audit log, newest first, optionally for one target (account, key, code batch, ...). */
export const auditPages = (deps: ModuleDeps) => {
  const { safe, render } = consoleKit(deps);
  return new Elysia()
    .use(deps.webAuth)
    .get("/console/audit", ({ request, operator, query }) => safe(request, async () => {
      const target = typeof query.target === "string" ? query.target.trim() : "";
      const before = Number(query.before) > 0 ? Number(query.before) : undefined;
      const rows = await listAudit(deps.store, { limit: 51, before, targetId: target || undefined });
      return render(request, operator, "audit", "Audit log", auditView({
        rows: rows.slice(0, 50), target, next: rows.length > 50 ? rows[49]!.id : null,
      }));
    }), hide());
};
