import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { ApiError } from "../../lib/errors";
import { clientAddress, throttleKey } from "../../lib/client-address";
import { redacted } from "../../lib/log";
import { Mailer, type Mail } from "../../lib/mailer";
import { checkPreCsrf, field, fieldErrors, preCsrf } from "../forms";
import { htmlResponse, pausedAnswer, redirectResponse } from "../html";
import { usd } from "../format";
import { SignUpForm } from "../../identity/logins/model";
import { completeSignUp, findSignUp, requestSignUp } from "../../identity/logins/signup";
import { createSession, hashPassword, takeAttempt, verifyPassword } from "../../identity/sessions";
import { attemptThrough } from "../../identity/attempt-gate";
import { flashCookie, isSecure, sameOrigin, sessionCookie } from "../session";
import { inviteInvalidView, signupConfirmView, signupInvalidView, signupSentView, signupView } from "./views/auth";

// A fresh object per route (Elysia writes macro hooks into it; see portal/page-kit.ts).
const hide = () => ({ detail: { hide: true } }) as const;
const EXPIRED = "The form expired. Please try again.";

/**
 * Open sign-up (`signup_enabled`) in two steps, so that the form never tells whether an email has
 * an account: the form always answers "check your email" after the same work (the password is
 * hashed either way) and mails either a link to finish (a new address) or a reminder (a
 * registered one); the link creates the account for whoever also knows the password chosen.
 */
export const portalSignupRoutes = (deps: ModuleDeps) => {
  const mailer = new Mailer(deps.config);
  const ttlHours = deps.config.invite_ttl_hours;
  const base = () => (deps.config.public_url ?? "").replace(/\/+$/, "");
  const pre = (request: Request) => preCsrf(request, isSecure(deps, request));
  const starter = () => (deps.config.signup_credits_usd > 0 ? usd(deps.config.signup_credits_usd) : null);
  const addressOf = (request: Request, server: Parameters<typeof clientAddress>[1]) =>
    throttleKey(clientAddress(request, server, deps.config.trusted_proxy_header));
  const send = (mail: Mail) => void mailer.send(mail).catch((e) => console.error("a sign-up email failed:", redacted(e)));

  return new Elysia()
    .get("/portal/signup", ({ request }) => {
      if (!deps.config.signup_enabled) return htmlResponse(inviteInvalidView("missing"), 404);
      const { token, headers } = pre(request);
      return htmlResponse(signupView({ csrf: token, starter: starter() }), 200, headers);
    }, hide())
    .post("/portal/signup", async ({ request, body, server }) => {
      if (!deps.config.signup_enabled) return htmlResponse(inviteInvalidView("missing"), 404);
      const { token, headers } = pre(request);
      const input = { name: field(body, "name"), email: field(body, "email"), password: field(body, "password"), confirm: field(body, "confirm") };
      const render = (errors: Record<string, string>, status = 400) =>
        htmlResponse(signupView({ csrf: token, name: input.name, email: input.email, errors, starter: starter() }), status, headers);
      if (!sameOrigin(deps, request) || !checkPreCsrf(request, body)) return render({ form: EXPIRED }, 403);
      const parsed = SignUpForm.safeParse(input);
      if (!parsed.success) return render(fieldErrors(parsed.error));
      // Each accepted form sends an email: bounded per client address, never for everyone.
      const address = addressOf(request, server);
      if (takeAttempt([deps.throttles.signUp, address]) > 0) return render({ form: "Too many sign-ups from here. Please try again later." }, 429);
      const { name, email, password } = parsed.data;
      const passwordHash = await hashPassword(password);
      const pending = await requestSignUp(deps.store, { name, email, passwordHash, ttlMs: ttlHours * 3_600_000 }, deps.now());
      // Not awaited: the answer must not wait on (or reveal through its timing) which email went out.
      if (pending !== "full") send(pending ? finishMail(email, `${base()}/portal/signup/confirm/${pending.token}`, ttlHours) : reminderMail(email, base()));
      return htmlResponse(signupSentView(ttlHours), 200, headers);
    }, hide())
    .get("/portal/signup/confirm/:token", async ({ request, params }) => {
      const found = await findSignUp(deps.store, params.token, deps.now());
      if (!found) return htmlResponse(signupInvalidView(), 404);
      const { token, headers } = pre(request);
      return htmlResponse(signupConfirmView({ csrf: token, token: params.token, email: found.email }), 200, headers);
    }, hide())
    .post("/portal/signup/confirm/:token", async ({ request, params, body, server }) => {
      const found = await findSignUp(deps.store, params.token, deps.now());
      if (!found) return htmlResponse(signupInvalidView(), 404);
      const { token, headers } = pre(request);
      const render = (error: string, status: number) =>
        htmlResponse(signupConfirmView({ csrf: token, token: params.token, email: found.email, error }), status, headers);
      if (!sameOrigin(deps, request) || !checkPreCsrf(request, body)) return render(EXPIRED, 403);
      // Through the gate: guesses at once are cut at the limit, a right password is never a failure.
      const key = `signup:${addressOf(request, server)}`;
      const tried = await attemptThrough([[deps.throttles.signIn, key]], () => verifyPassword(field(body, "password"), found.passwordHash), false);
      if ("pausedMs" in tried) return pausedAnswer((status, message) => render(message, status), tried.pausedMs);
      if (!tried.found) return render("That is not the password chosen when signing up.", 401);
      try {
        const { account, ownerId } = await completeSignUp(deps.store, params.token, deps.config.signup_credits_usd, deps.now());
        const ttlMs = deps.config.session_ttl_hours * 3_600_000;
        const s = await createSession(deps.store, { kind: "customer", accountId: account.id, memberId: ownerId, ttlMs }, deps.now());
        const welcome = flashCookie({ kind: "ok", message: "Your account is ready. Create an API key to get started." }, isSecure(deps, request));
        return redirectResponse("/portal", [sessionCookie(deps, request, s), welcome]);
      } catch (e) {
        if (e instanceof ApiError && e.status < 500) return render(e.message, e.status);
        throw e;
      }
    }, hide());
};

const finishMail = (to: string, link: string, ttlHours: number): Mail => ({
  to,
  subject: "Finish creating your account",
  text:
    `To finish creating your account, open this link and enter the password you chose:\n\n${link}\n\n` +
    `It is valid for ${ttlHours} hours. If you did not sign up, ignore this email: no account is created without it.`,
});

const reminderMail = (to: string, base: string): Mail => ({
  to,
  subject: "You already have an account",
  text:
    `Someone asked to create an account with this address, which already has an account. If it was you, sign in at ` +
    `${base}/portal/login; if you forgot your password, ask your operator for a new invite link. If it was not you, ignore this email.`,
});
