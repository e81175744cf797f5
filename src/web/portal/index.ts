import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { errors } from "../../lib/errors";
import { redirectResponse } from "../html";
import { htmlErrors } from "../session";
import { webAssets } from "../assets";
import { portalAuthRoutes } from "./auth-routes";
import { creditsPages } from "./credits-pages";
import { keysPages } from "./keys-pages";
import { keyEditPages } from "./key-edit-pages";
import { membersPages } from "./members-pages";
import { overviewPages, quickstartPages } from "./overview-pages";
import { hide } from "./page-kit";
import { portalUsagePages } from "./usage-pages";

/**
 * The customer portal: server-rendered pages under /portal, signed in with a session cookie.
 * One plugin per concern; each uses the `portal` macro (deps.webAuth) itself.
 */
export const portalModule = (deps: ModuleDeps) => {
  const safe = htmlErrors(deps, "/portal", { href: "/portal", label: "Back to the portal" });
  return new Elysia()
    .use(webAssets)
    .use(deps.webAuth)
    .use(portalAuthRoutes(deps))
    // Someone opening the gateway's address in a browser wants the dashboard, not a JSON 404.
    .get("/", () => redirectResponse("/portal"), { detail: { hide: true } })
    .use(overviewPages(deps))
    .use(keysPages(deps))
    .use(keyEditPages(deps))
    .use(membersPages(deps))
    .use(portalUsagePages(deps))
    .use(creditsPages(deps))
    .use(quickstartPages(deps))
    .get("/portal/*", ({ request }) => safe(request, () => {
      throw errors.notFound("Page");
    }), hide());
};
