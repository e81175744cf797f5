import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { field } from "../forms";
import { keysOf } from "../../gateway/upstream/registry";
import { listUpstreams } from "../../modules/upstreams/service";
import { consoleKit, DAY_MS, hide, type ConsoleKit, type Op } from "./page-kit";
import { probeProvider, trafficSince, type ProbeResult } from "./service";
import { healthView } from "./views/other";

/** Upstream health: each upstream's state and traffic, and a test request to one of them. */
export const healthPages = (deps: ModuleDeps) => {
  const kit = consoleKit(deps);
  const { safe, back } = kit;
  return new Elysia()
    .use(deps.webAuth)
    .get("/console/health", ({ request, operator }) => safe(request, () => healthPage(deps, kit, request, operator)), hide())
    .post("/console/health/probe", async ({ request, operator, body }) => safe(request, async () => {
      const [id, n] = field(body, "upstream").split("#");
      const p = deps.config.providers.find((x) => x.id === id);
      const key = p ? keysOf(p)[Number(n) - 1] : undefined;
      if (!p || !Number.isInteger(Number(n)) || Number(n) < 1 || Number(n) > keysOf(p).length) return back(request, "/console/health", "error", "Unknown upstream.");
      return healthPage(deps, kit, request, operator, await probeProvider(p, key, `${id}#${n}`));
    }), hide());
};

async function healthPage(deps: ModuleDeps, kit: ConsoleKit, request: Request, op: Op, probe?: ProbeResult) {
  const now = deps.now();
  const hour = await trafficSince(deps.store, now - 3_600_000);
  const day = await trafficSince(deps.store, now - DAY_MS);
  return kit.render(request, op, "health", "Upstream health", healthView({ csrf: op.session.csrf, upstreams: listUpstreams(deps.upstreams), hour, day, probe }));
}
