import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { ApiError } from "../../lib/errors";
import { clientAddress, throttleKey, type AddressSource } from "../../lib/client-address";
import { checkPreCsrf, field, fieldErrors, preCsrf, safeNext } from "../forms";
import { htmlResponse, pausedAnswer, redirectResponse } from "../html";
import { SetPasswordForm } from "../../identity/logins/model";
import { acceptInvite, findInvite, findLogin, touchLogin, type InviteState } from "../../identity/logins/service";
import { clearSessionCookie, flashCookie, isSecure, sameOrigin, sessionCookie, takeFlash } from "../session";
import { createSession, deleteSession, hashPassword, verifyPassword } from "../../identity/sessions";
import { attemptThrough } from "../../identity/attempt-gate";
import { inviteInvalidView, inviteView, loginView } from "./views/auth";
import { portalSignupRoutes } from "./signup-routes";

// A fresh object per route (Elysia writes macro hooks into it; see portal/page-kit.ts).
const hide = () => ({ detail: { hide: true } }) as const;
const expired = { kind: "error" as const, message: "The form expired. Please try again." };
const WRONG_SIGN_IN = "The email or password is incorrect.";
/** The longest email address there can be (RFC 5321's 256-octet forward path, less its brackets). */
const MAX_EMAIL = 254;

/** Customer sign-in, invite acceptance and sign-out (HTML forms); open sign-up in signup-routes.ts. */
export const portalAuthRoutes = (deps: ModuleDeps) =>
  new Elysia()
    .use(deps.webAuth)
    .use(portalLoginRoutes(deps))
    .use(portalInviteRoutes(deps))
    .use(portalSignupRoutes(deps));

/** The CSRF token (and its cookie) of a form shown before there is a session (see preCsrf). */
const preFor = (deps: ModuleDeps) => (request: Request) => preCsrf(request, isSecure(deps, request));

/** Signs the customer in and sends the browser on, with a welcome message when given. */
function sessionStarter(deps: ModuleDeps) {
  const ttlMs = deps.config.session_ttl_hours * 3_600_000;
  return async (request: Request, who: { accountId: string; memberId: string }, to: string, welcome?: string) => {
    const s = await createSession(deps.store, { kind: "customer", accountId: who.accountId, memberId: who.memberId, ttlMs }, deps.now());
    return redirectResponse(to, [sessionCookie(deps, request, s), ...(welcome ? [flashCookie({ kind: "ok", message: welcome }, isSecure(deps, request))] : [])]);
  };
}

/** Sign-in with email and password (throttled per address and email), and sign-out. */
const portalLoginRoutes = (deps: ModuleDeps) => {
  const { signIn, signInAddress } = deps.throttles;
  const addressOf = (request: Request, server: AddressSource | null) => throttleKey(clientAddress(request, server, deps.config.trusted_proxy_header));
  const pre = preFor(deps);
  const startSession = sessionStarter(deps);

  return new Elysia()
    .use(deps.webAuth)
    .get("/portal/login", ({ request, query }) => {
      const { token, headers } = pre(request);
      const f = takeFlash(request);
      const next = typeof query.next === "string" ? query.next : undefined;
      return htmlResponse(loginView({ csrf: token, next, flash: f.flash, signup: deps.config.signup_enabled }), 200, [...headers, ...f.headers]);
    }, hide())
    .post("/portal/login", async ({ request, body, server }) => {
      const { token, headers } = pre(request);
      const email = field(body, "email").trim().toLowerCase();
      const render = (status: number, message: string) =>
        htmlResponse(
          loginView({ csrf: token, email: email.slice(0, MAX_EMAIL), next: field(body, "next") || undefined, flash: { kind: "error", message }, signup: deps.config.signup_enabled }),
          status,
          headers,
        );
      if (!sameOrigin(deps, request) || !checkPreCsrf(request, body)) return render(403, expired.message);
      // No address is longer (RFC 5321), so no account has one: refused before it is counted, the
      // throttles' keys stay short whatever is typed into the form.
      if (email.length > MAX_EMAIL) return render(401, WRONG_SIGN_IN);
      // Per client address (and email): wrong passwords from anyone must not lock the owner out.
      // The email's gate first, then the address's (one order, see enterAll).
      const address = addressOf(request, server);
      const key = `portal:${address}:${email}`;
      // Only a wrong password counts (a storage error does not); a right one clears the email's failures.
      const tried = await attemptThrough([[signIn, key], [signInAddress, address]], async () => {
        const login = email ? await findLogin(deps.store, email) : null;
        return (await verifyPassword(field(body, "password"), login?.passwordHash)) ? login : null;
      }, true);
      if ("pausedMs" in tried) return pausedAnswer(render, tried.pausedMs);
      const login = tried.found;
      if (!login) return render(401, WRONG_SIGN_IN);
      await touchLogin(deps.store, login.memberId, deps.now());
      return startSession(request, login, safeNext(field(body, "next"), "/portal", "/portal"));
    }, hide())
    .post("/portal/logout", async ({ request, user }) => {
      await deleteSession(deps.store, user.session.token);
      const bye = flashCookie({ kind: "ok", message: "You have been signed out." }, isSecure(deps, request));
      return redirectResponse("/portal/login", [clearSessionCookie("customer"), bye]);
    }, { portal: true, ...hide() });
};

/** An invite link: the person sets (or resets) their password, with the invite's email, and is signed in. */
const portalInviteRoutes = (deps: ModuleDeps) => {
  const pre = preFor(deps);
  const startSession = sessionStarter(deps);

  return new Elysia()
    .get("/portal/invite/:token", async ({ request, params }) => {
      const found = await findInvite(deps.store, params.token, deps.now());
      if (!found || found.state !== "ok") return invalidInvite(found);
      const { token, headers } = pre(request);
      const reset = found.member?.passwordHash != null;
      const fixed = found.invite.email !== null;
      return htmlResponse(
        inviteView({ csrf: token, token: params.token, accountName: found.account.name, email: found.invite.email, fixed, reset, role: found.member?.role }),
        200,
        headers,
      );
    }, hide())
    .post("/portal/invite/:token", async ({ request, params, body }) => {
      const found = await findInvite(deps.store, params.token, deps.now());
      if (!found || found.state !== "ok") return invalidInvite(found);
      const { token, headers } = pre(request);
      // An invite made for an address is accepted as that address only: the link proves nothing
      // about another one, which would become a sign-in nobody confirmed. An invite without one
      // (the operator's, for an account with no email) lets its holder choose: the operator handed it over.
      const invited = found.invite.email?.toLowerCase() ?? null;
      const email = field(body, "email") || (invited ?? "");
      const render = (errors: Record<string, string>, status = 400) =>
        htmlResponse(
          inviteView({
            csrf: token, token: params.token, accountName: found.account.name, email: invited ?? email, fixed: invited !== null, errors,
            reset: found.member?.passwordHash != null, role: found.member?.role,
          }),
          status,
          headers,
        );
      if (!sameOrigin(deps, request) || !checkPreCsrf(request, body)) return render({ form: expired.message }, 403);
      const parsed = SetPasswordForm.safeParse({ email, password: field(body, "password"), confirm: field(body, "confirm") });
      if (!parsed.success) return render(fieldErrors(parsed.error));
      if (invited !== null && parsed.data.email !== invited) {
        return render({ email: `This invite is for ${invited}: accept it with that address, or ask for an invite to the other one.` });
      }
      const passwordHash = await hashPassword(parsed.data.password);
      try {
        const who = await acceptInvite(deps.store, params.token, { email: parsed.data.email, passwordHash }, deps.now());
        return await startSession(request, who, "/portal", "Your password is set. Welcome to your dashboard.");
      } catch (e) {
        if (e instanceof ApiError && e.status < 500) return render(e.param === "email" ? { email: e.message } : { form: e.message }, e.status);
        throw e;
      }
    }, hide());
};

const invalidInvite = (found: InviteState | null) =>
  htmlResponse(inviteInvalidView(found ? (found.state as "used" | "expired") : "missing"), found ? 410 : 404);
