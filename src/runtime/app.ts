import { Elysia } from "elysia";
import { openapi } from "@elysiajs/openapi";
import { z } from "zod";
import type { Config } from "../config/load";
import { caughtUp, type Db } from "../store/store";
import type { CreditStore } from "../money/credit-store";
import type { KeyAuthenticator } from "../modules/keys/service";
import type { RateLimiter } from "../gateway/limits/limiter";
import { errorHandler } from "./plugins/errors";
import { requestId } from "./plugins/request-id";
import { cors } from "./plugins/cors";
import { corsPolicy } from "../lib/cors";
import { swaggerAssets } from "./plugins/swagger-assets";
import { bodyLimit } from "./plugins/body-limit";
import { healthModule } from "../modules/health";
import { accountsModule } from "../modules/accounts";
import { ledgerModule } from "../modules/ledger";
import { keysModule } from "../modules/keys";
import { auditModule } from "../modules/audit";
import { meModule } from "../modules/me";
import { ratelimitModule } from "../modules/ratelimit";
import { codesModule } from "../modules/codes";
import { loginsModule } from "../identity/logins";
import { portalModule } from "../web/portal";
import { consoleModule } from "../web/console";
import { modelsModule } from "../modules/models";
import { chatModule } from "../modules/chat";
import { upstreamsModule } from "../modules/upstreams";
import type { Upstreams } from "../modules/upstreams/service";
import { usageModule } from "../modules/usage";
import type Stripe from "stripe";
import type { AlertService } from "../modules/alerts/service";
import { billingModule } from "../modules/billing";
import { alertsModule } from "../modules/alerts";
import { metricsModule } from "../modules/metrics";
import type { ChatMetrics } from "../gateway/metrics";

/** Everything the app needs, built by the caller (server, tests); the app itself never listens. */
export interface AppDeps {
  config: Config;
  db: Db;
  credits: CreditStore;
  keys: KeyAuthenticator;
  limiter: RateLimiter;
  adminTokenHash: string;
  now: () => number;
  /** Upstream keys with their circuit breakers, and the requests in flight (cap, shutdown drain). */
  upstreams: Upstreams;
  /** Payments: the Stripe client (null = not configured); built from config when absent. */
  stripe?: Stripe | null;
  /** Low-balance alerts (absent in tests that do not need them). */
  alerts?: AlertService;
  /** Counters behind GET /metrics (absent: none kept). */
  metrics?: ChatMetrics;
}

export function createApp(deps: AppDeps) {
  return new Elysia()
    // Balances, ledger and usage pages read SQLite: journaled settlements are written to it first.
    .onRequest(() => void caughtUp(deps.db))
    .use(requestId)
    .use(cors(corsPolicy(deps.config.cors_origins)))
    .use(errorHandler)
    .use(bodyLimit(deps.config.max_body_bytes))
    .use(
      openapi({
        path: "/swagger",
        specPath: "/openapi.json",
        provider: "swagger-ui",
        swagger: { cdn: "/swagger/assets/swagger-ui-bundle.js", theme: "/swagger/assets/swagger-ui.css", version: "5" },
        mapJsonSchema: { zod: z.toJSONSchema },
        documentation: {
          info: {
            title: "Tollgate",
            version: "0.1.0",
            description: "OpenAI-compatible LLM API gateway with prepaid credits. Customer routes use an API key; /admin routes use the admin token.",
          },
          components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
          security: [{ bearer: [] }],
        },
      }),
    )
    .use(swaggerAssets)
    .use(healthModule(deps))
    .use(accountsModule(deps))
    .use(ledgerModule(deps))
    .use(keysModule(deps))
    .use(auditModule(deps))
    .use(meModule(deps))
    .use(ratelimitModule(deps))
    .use(codesModule(deps))
    .use(loginsModule(deps))
    .use(portalModule(deps))
    .use(consoleModule(deps))
    .use(modelsModule(deps))
    .use(chatModule(deps))
    .use(upstreamsModule(deps))
    .use(usageModule(deps))
    .use(billingModule(deps))
    .use(alertsModule(deps))
    .use(metricsModule(deps));
}

export type App = ReturnType<typeof createApp>;
