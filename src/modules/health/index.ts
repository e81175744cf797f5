import { Elysia } from "elysia";
import { z } from "zod";
import { sql } from "drizzle-orm";
import type { AppDeps } from "../../runtime/deps";
import { rows } from "../../store/work";

const Health = z.object({ status: z.literal("ok") });
const Ready = z.object({
  status: z.enum(["ready", "unavailable"]),
  database: z.enum(["ok", "error"]).describe("error: the database does not answer, or its file was deleted or replaced while the gateway had it open"),
  settlements: z.enum(["ok", "failing"]).describe("failing: charges could not be committed lately (a full disk), wait for a retry, or the settlement journal cannot be emptied"),
});
type ReadyBody = z.infer<typeof Ready>;

export const healthModule = (deps: AppDeps) =>
  new Elysia({ tags: ["health"] })
    .get("/healthz", () => ({ status: "ok" as const }), {
      response: Health,
      detail: { summary: "Liveness: the process is up", security: [] },
    })
    .get(
      "/readyz",
      async ({ status }) => {
        const body: ReadyBody = { status: "ready", database: "ok", settlements: deps.credits.failing?.() ? "failing" : "ok" };
        try {
          await deps.store.read((q) => rows(sql`SELECT 1`));
          // The open connection answers even when its file is gone from db_path: check that it is still there.
          if (deps.store.fileProblem?.()) body.database = "error";
        } catch {
          body.database = "error";
        }
        // A stopping gateway refuses new requests on kept-alive connections: a balancer must stop sending them.
        const ready = body.database === "ok" && body.settlements === "ok" && !deps.upstreams.traffic.isDraining;
        return ready ? body : status(503, { ...body, status: "unavailable" as const });
      },
      {
        response: { 200: Ready, 503: Ready },
        detail: { summary: "Readiness: the database answers, charges are being recorded and the gateway is not shutting down (503 otherwise)", security: [] },
      },
    );
