import { Elysia } from "elysia";
import type { AppDeps } from "../../runtime/app";
import { authPlugin } from "../../identity/auth";
import { UpstreamList } from "./model";
import { listUpstreams } from "./service";

export const upstreamsModule = (deps: AppDeps) =>
  new Elysia({ prefix: "/admin", tags: ["admin"] })
    .use(authPlugin(deps))
    .get("/upstreams", () => listUpstreams(deps.upstreams), {
      admin: true,
      response: UpstreamList,
      detail: {
        summary: "Upstream keys: circuit breaker state, recent error rate, requests in flight (keys shown by their last 4 characters only)",
      },
    });
