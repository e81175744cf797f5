import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { errors } from "../../lib/errors";
import { redirectResponse } from "../html";
import { htmlErrors } from "../session";
import { accountsPages } from "./accounts-pages";
import { consoleAuthRoutes } from "./auth-routes";
import { codesPages } from "./codes-pages";
import { healthPages } from "./health-pages";
import { auditPages, modelsPages } from "./other-pages";
import { marginsPages } from "./margins-pages";
import { hide } from "./page-kit";
import { consoleUsagePages } from "./usage-pages";

/**
 * The operator console: server-rendered pages under /console, signed in with the admin token.
 * One plugin per concern; each uses the `console` macro (deps.webAuth) itself.
 */
export const consoleModule = (deps: ModuleDeps) => {
  const safe = htmlErrors(deps, "/console", { href: "/console/accounts", label: "Back to the console" });
  return new Elysia()
    .use(deps.webAuth)
    .use(consoleAuthRoutes(deps))
    .get("/console", () => redirectResponse("/console/accounts"), hide())
    .use(accountsPages(deps))
    .use(codesPages(deps))
    .use(consoleUsagePages(deps))
    .use(marginsPages(deps))
    .use(modelsPages(deps))
    .use(healthPages(deps))
    .get("/console/*", ({ request }) => safe(request, () => {
      throw errors.notFound("Page");
    }), hide())
    .use(auditPages(deps));
};
