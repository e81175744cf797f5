import { Elysia } from "elysia";
import { authPlugin } from "../identity/auth";
import { loginsModule } from "../identity/logins";
import { createThrottles } from "../identity/sessions";
import { corsPolicy } from "../lib/cors";
import { accountsModule } from "../modules/accounts";
import { alertsModule } from "../modules/alerts";
import { auditModule } from "../modules/audit";
import { billingModule } from "../modules/billing";
import { stripeFromConfig } from "../modules/billing/stripe-client";
import { apisModule } from "../modules/apis";
import { chatModule } from "../modules/chat";
import { deferredModule } from "../modules/deferred";
import { responsesModule } from "../modules/responses";
import { codesModule } from "../modules/codes";
import { healthModule } from "../modules/health";
import { keysModule } from "../modules/keys";
import { ledgerModule } from "../modules/ledger";
import { marginsModule } from "../modules/margins";
import { meModule } from "../modules/me";
import { membersModule } from "../modules/members";
import { metricsModule } from "../modules/metrics";
import { modelsModule } from "../modules/models";
import { ratelimitModule } from "../modules/ratelimit";
import { upstreamsModule } from "../modules/upstreams";
import { usageModule } from "../modules/usage";
import { consoleModule } from "../web/console";
import { portalModule } from "../web/portal";
import { webAuthPlugin } from "../web/session";
import type { AppDeps } from "./deps";
import type { ModuleDeps } from "./module-deps";
import { adminGate } from "./plugins/admin-gate";
import { bodyLimit } from "./plugins/body-limit";
import { cors } from "./plugins/cors";
import { errorHandler } from "./plugins/errors";
import { requestId } from "./plugins/request-id";
import { swaggerAssets } from "./plugins/swagger-assets";
import { apiDocs } from "./api-docs";

/** What every module gets: the runtime's deps, and the auth macros built once for this app. */
function moduleDeps(deps: AppDeps): ModuleDeps {
  // The Stripe client is made with the app, not at start: the library is large and the metered
  // routes never need it (this keeps it out of the start's chunk of the binary).
  const stripe = deps.stripe !== undefined ? deps.stripe : stripeFromConfig(deps.config);
  const base = { ...deps, stripe, throttles: createThrottles(deps.now) };
  return { ...base, auth: authPlugin(deps), webAuth: webAuthPlugin(base) };
}

export function createApp(appDeps: AppDeps) {
  const deps = moduleDeps(appDeps);
  // Elysia assumes a Host of 4 characters or more and reads the path from the URL's 12th
  // character on: with Host `a`, /xx/portal/members would be served as /portal/members, past
  // every check that reads the URL's real path. Served over http, the path starts after "http://".
  return new Elysia({ handler: { standardHostname: false } })
    // Balances, ledger and usage pages read SQLite: journaled settlements are written to it first.
    .onRequest(() => deps.store.catchUp?.())
    .use(requestId)
    .use(cors(corsPolicy(deps.config.cors_origins)))
    .use(errorHandler)
    .use(bodyLimit(deps.config.max_body_bytes))
    .use(adminGate(deps))
    .use(apiDocs())
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
    .use(membersModule(deps))
    .use(portalModule(deps))
    .use(consoleModule(deps))
    .use(modelsModule(deps))
    .use(chatModule(deps))
    .use(apisModule(deps))
    .use(responsesModule(deps))
    .use(deferredModule(deps))
    .use(upstreamsModule(deps))
    .use(usageModule(deps))
    .use(marginsModule(deps))
    .use(billingModule(deps))
    .use(alertsModule(deps))
    .use(metricsModule(deps));
}

export type App = ReturnType<typeof createApp>;
