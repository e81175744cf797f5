import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { checkPreCsrf, field, preCsrf, safeNext } from "../forms";
import { htmlResponse, pausedAnswer, redirectResponse } from "../html";
import { attemptThrough } from "../../identity/attempt-gate";
import { checkAdminToken } from "../../identity/admin-token";
import { clientAddress, throttleKey } from "../../lib/client-address";
import { consoleLoginView } from "../portal/views/auth";
import { clearSessionCookie, flashCookie, isSecure, sameOrigin, sessionCookie, takeFlash } from "../session";
import { createSession, deleteSession } from "../../identity/sessions";

// A fresh object per route (Elysia writes macro hooks into it; see portal/page-kit.ts).
const hide = () => ({ detail: { hide: true } }) as const;

/** Operator sign-in with the admin token; the console session is separate from customer sessions. */
export const consoleAuthRoutes = (deps: ModuleDeps) => {
  const gate = deps.throttles.signIn;
  return new Elysia()
    .use(deps.webAuth)
    .get("/console/login", ({ request, query }) => {
      const { token, headers } = preCsrf(request, isSecure(deps, request));
      const f = takeFlash(request);
      const next = typeof query.next === "string" ? query.next : undefined;
      return htmlResponse(consoleLoginView({ csrf: token, flash: f.flash, next }), 200, [...headers, ...f.headers]);
    }, hide())
    .post("/console/login", async ({ request, body, server }) => {
      const { token, headers } = preCsrf(request, isSecure(deps, request));
      const render = (status: number, message: string) =>
        htmlResponse(consoleLoginView({ csrf: token, next: field(body, "next") || undefined, flash: { kind: "error", message } }), status, headers);
      if (!sameOrigin(deps, request) || !checkPreCsrf(request, body)) return render(403, "The form expired. Please try again.");
      // Per client address: five wrong tokens from anyone must not lock the operator out.
      const key = `console:${throttleKey(clientAddress(request, server, deps.config.trusted_proxy_header))}`;
      const tried = await attemptThrough([[gate, key]], () => checkAdminToken(field(body, "token").trim(), deps.adminTokenHash), true);
      if ("pausedMs" in tried) return pausedAnswer(render, tried.pausedMs);
      if (!tried.found) return render(401, "That admin token is not valid.");
      const s = await createSession(deps.store, { kind: "admin", accountId: null, adminHash: deps.adminTokenHash, ttlMs: deps.config.session_ttl_hours * 3_600_000 }, deps.now());
      return redirectResponse(safeNext(field(body, "next"), "/console", "/console/accounts"), [sessionCookie(deps, request, s)]);
    }, hide())
    .post("/console/logout", async ({ request, operator }) => {
      await deleteSession(deps.store, operator.session.token);
      const bye = flashCookie({ kind: "ok", message: "You have been signed out." }, isSecure(deps, request));
      return redirectResponse("/console/login", [clearSessionCookie("admin"), bye]);
    }, { console: true, ...hide() });
};
