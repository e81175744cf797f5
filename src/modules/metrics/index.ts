import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { CONTENT_TYPE } from "../../lib/exposition";
import { renderMetrics } from "./service";

export const metricsModule = (deps: ModuleDeps) =>
  new Elysia({ tags: ["admin"] }).use(deps.auth).get("/metrics", async () => new Response(await renderMetrics(deps), { headers: { "content-type": CONTENT_TYPE } }), {
    admin: true,
    detail: {
      summary: "Prometheus metrics: chat responses, metered requests, tokens, credit charged, latency and time-to-first-token histograms, upstream breakers (admin token)",
      responses: {
        200: { description: "Prometheus text exposition format 0.0.4.", content: { "text/plain": { schema: { type: "string" } } } },
        401: { description: "Missing or wrong admin token (OpenAI error envelope)." },
      },
    },
  });
