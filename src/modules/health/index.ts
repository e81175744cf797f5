import { Elysia } from "elysia";
import { z } from "zod";
import { sql } from "drizzle-orm";
import type { AppDeps } from "../../runtime/deps";
import { rows } from "../../store/work";

const Health = z.object({ status: z.literal("ok") });
const Ready = z.object({ status: z.enum(["ready", "unavailable"]), database: z.enum(["ok", "error"]) });

export const healthModule = (deps: AppDeps) =>
  new Elysia({ tags: ["health"] })
    .get("/healthz", () => ({ status: "ok" as const }), {
      response: Health,
      detail: { summary: "Liveness: the process is up" },
    })
    .get(
      "/readyz",
      async ({ status }) => {
        // A stopping gateway refuses new requests on kept-alive connections: a balancer must stop sending them.
        if (deps.upstreams.traffic.isDraining) return status(503, { status: "unavailable" as const, database: "ok" as const });
        try {
          await deps.store.read((q) => rows(sql`SELECT 1`));
          return { status: "ready" as const, database: "ok" as const };
        } catch {
          return status(503, { status: "unavailable" as const, database: "error" as const });
        }
      },
      { response: { 200: Ready, 503: Ready }, detail: { summary: "Readiness: the database answers and the gateway is not shutting down (503 otherwise)" } },
    );
