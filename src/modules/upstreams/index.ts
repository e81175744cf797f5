import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { UpstreamList } from "./model";
import { listUpstreams } from "./service";

export const upstreamsModule = (deps: ModuleDeps) =>
  new Elysia({ prefix: "/admin", tags: ["admin"] })
    .use(deps.auth)
    .get("/upstreams", () => listUpstreams(deps.upstreams, deps.instanceId ?? null), {
      admin: true,
      response: UpstreamList,
      detail: {
        summary: "Upstream keys: circuit breaker state, recent error rate, requests in flight (keys shown by their last 4 characters only)",
      },
    });
