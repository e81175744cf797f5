import { Elysia } from "elysia";
import type { AppDeps } from "../runtime/deps";
import { clearCookie, readCookies, setCookie } from "./cookies";
import { ApiError, errors } from "../lib/errors";
import { htmlResponse, redirectResponse, type HeaderPairs } from "./html";
import { errorPage, type Flash } from "./layout";
import type { AccountRow } from "../modules/accounts/service";
import { memberStatus, ownerMember, type MemberRow, type Role } from "../identity/members";
import { checkCsrf, deleteSession, getPortalSession, getSession, type SessionKind, type WebSession } from "../identity/sessions";

export const COOKIE: Record<SessionKind, { name: string; path: string; login: string }> = {
  customer: { name: "tg_portal", path: "/portal", login: "/portal/login" },
  admin: { name: "tg_console", path: "/console", login: "/console/login" },
};
const FLASH = "tg_flash";

/** Cookies are Secure when the dashboard is reached over HTTPS (directly or behind a proxy). */
export function isSecure(deps: AppDeps, request: Request): boolean {
  return (
    deps.config.public_url?.startsWith("https:") === true ||
    request.url.startsWith("https:") ||
    request.headers.get("x-forwarded-proto") === "https"
  );
}

export function sessionCookie(deps: AppDeps, request: Request, s: WebSession): [string, string] {
  const c = COOKIE[s.kind];
  return setCookie(c.name, s.token, {
    path: c.path,
    maxAge: Math.floor((s.expiresAt - deps.now()) / 1000),
    secure: isSecure(deps, request),
    sameSite: "Lax",
  });
}

export const clearSessionCookie = (kind: SessionKind): [string, string] => clearCookie(COOKIE[kind].name, COOKIE[kind].path);

/** The one-shot message for the next page; `secure` as for the session cookie (see isSecure). */
export function flashCookie(flash: Flash, secure: boolean): [string, string] {
  return setCookie(FLASH, JSON.stringify(flash), { path: "/", maxAge: 60, secure });
}

/** Reads the one-shot message left by the previous POST, with the header that clears it. */
export function takeFlash(request: Request): { flash: Flash | null; headers: HeaderPairs } {
  const raw = readCookies(request.headers.get("cookie"))[FLASH];
  if (!raw) return { flash: null, headers: [] };
  try {
    const f = JSON.parse(raw) as Flash;
    const ok = (f.kind === "ok" || f.kind === "error" || f.kind === "warn") && typeof f.message === "string";
    return { flash: ok ? { kind: f.kind, message: f.message.slice(0, 500) } : null, headers: [clearCookie(FLASH, "/")] };
  } catch {
    return { flash: null, headers: [clearCookie(FLASH, "/")] };
  }
}

/** Cross-site form posts are refused when the browser says where they come from. */
export function sameOrigin(deps: AppDeps, request: Request): boolean {
  const origin = request.headers.get("origin");
  if (!origin) return true;
  if (origin === "null") return false;
  const host = request.headers.get("host") ?? new URL(request.url).host;
  const allowed = new Set([host, new URL(request.url).host]);
  if (deps.config.public_url) allowed.add(new URL(deps.config.public_url).host);
  try {
    return allowed.has(new URL(origin).host);
  } catch {
    return false;
  }
}

export interface PortalUser {
  session: WebSession;
  account: AccountRow;
  email: string;
  /**
   * Who is signed in and what they may do. `id` is null only for an owner without a member row
   * (a session from before teams on an account never invited since).
   */
  member: { id: string | null; role: Role };
}

/**
 * The signed-in member of a portal session (`m`, read with it), or null when they were removed
 * (the session ends).
 */
async function portalMember(deps: AppDeps, s: WebSession, account: AccountRow, m: MemberRow | null): Promise<{ id: string | null; role: Role; email: string } | null> {
  if (s.memberId) {
    if (!m || m.accountId !== account.id || memberStatus(m) !== "active") return null;
    return { id: m.id, role: m.role, email: m.email ?? account.name };
  }
  // A session from before teams was the one login's: the owner's.
  const owner = await ownerMember(deps.store, account.id);
  return { id: owner?.id ?? null, role: "owner", email: owner?.email ?? account.email ?? account.name };
}

/** Pages and forms only the owner may use (billing, credits, members); others get a 403 page. */
const OWNER_ONLY = /^\/portal\/(credits|billing|members)(\/|$)/;

type Ctx = { request: Request; body: unknown; set: { headers: Record<string, string | number> }; status: (code: 303 | 403, body: string) => unknown };

/** Sends the browser to the sign-in page (back here afterwards, for a GET). */
function toSignIn(kind: SessionKind, ctx: Ctx): unknown {
  const { request, set, status } = ctx;
  const c = COOKIE[kind];
  const url = new URL(request.url);
  set.headers.location = request.method === "GET" ? `${c.login}?next=${encodeURIComponent(url.pathname + url.search)}` : c.login;
  set.headers["cache-control"] = "no-store";
  return status(303, "");
}

/** Refuses a state-changing request without the session's CSRF token or from another site. */
function guard(deps: AppDeps, kind: SessionKind, ctx: Ctx, session: WebSession | null): { session: WebSession } | { stop: unknown } {
  const { request, set, status } = ctx;
  if (!session) return { stop: toSignIn(kind, ctx) };
  if (request.method !== "GET" && request.method !== "HEAD") {
    const token = (ctx.body as Record<string, unknown> | null | undefined)?._csrf;
    if (!sameOrigin(deps, request) || !checkCsrf(session.csrf, token)) {
      const back = kind === "customer" ? { href: "/portal", label: "Back to the portal" } : { href: "/console", label: "Back to the console" };
      const page = errorPage(403, "Request refused", "This form was not sent from this site or has expired. Reload the page and try again.", back);
      htmlResponse("", 403).headers.forEach((v, k) => (set.headers[k] = v));
      return { stop: status(403, `<!doctype html>\n${page}`) };
    }
  }
  return { session };
}

const cookieOf = (ctx: Ctx, kind: SessionKind) => readCookies(ctx.request.headers.get("cookie"))[COOKIE[kind].name];

/** What a suspended account is told it cannot do, by form. */
const SUSPENDED: [RegExp, string][] = [
  [/^\/portal\/keys$/, "keys cannot be created"],
  [/^\/portal\/keys\/[^/]+\/rotate$/, "keys cannot be rotated"],
  [/^\/portal\/keys\/[^/]+\/revoke$/, "keys cannot be revoked (ask the operator)"],
  [/^\/portal\/keys\/[^/]+\/edit$/, "keys cannot be changed"],
  [/^\/portal\/members/, "members cannot be invited, changed or removed"],
  [/^\/portal\/credits\//, "codes cannot be redeemed"],
  [/^\/portal\/billing\/checkout$/, "credits cannot be bought"],
  [/^\/portal\/billing\/alert$/, "the alert cannot be changed"],
];

/**
 * A suspended account is read-only in the portal: every form but sign-out (keys, codes, checkout,
 * alerts) goes back to its page with a message, here rather than in each handler so that no form
 * can forget it. Its keys already get 401 on the API.
 */
function refuseSuspended(deps: AppDeps, ctx: Ctx, account: AccountRow): unknown {
  const { request, set, status } = ctx;
  if (account.status === "active" || request.method === "GET" || request.method === "HEAD") return null;
  const url = new URL(request.url);
  if (url.pathname === "/portal/logout") return null;
  let to = "/portal";
  const referer = request.headers.get("referer");
  if (referer) {
    const from = new URL(referer, url);
    if (from.origin === url.origin && from.pathname.startsWith("/portal")) to = from.pathname + from.search;
  }
  set.headers.location = to;
  set.headers["cache-control"] = "no-store";
  const what = SUSPENDED.find(([path]) => path.test(url.pathname))?.[1] ?? "it can be viewed but not changed";
  const message = `This account is suspended: ${what}. Contact the operator.`;
  set.headers["set-cookie"] = flashCookie({ kind: "error", message }, isSecure(deps, request))[1];
  return status(303, "");
}

/** The owner's pages refuse admins and members here, so that no page or form can forget it. */
function refuseNonOwner(ctx: Ctx, role: Role): unknown {
  const { request, set, status } = ctx;
  if (role === "owner" || !OWNER_ONLY.test(new URL(request.url).pathname)) return null;
  const page = errorPage(403, "Only the owner can do this", "Billing, credits and members are managed by the account's owner. Ask them.", { href: "/portal", label: "Back to the portal" });
  htmlResponse("", 403).headers.forEach((v, k) => (set.headers[k] = v));
  return status(403, `<!doctype html>\n${page}`);
}

/**
 * Dashboard sign-in as macros: `{ portal: true }` resolves the signed-in customer into `user`,
 * `{ console: true }` the operator session into `operator`. Without a valid session the browser
 * is sent to the sign-in page; a state-changing request must also carry the session's CSRF token
 * (hidden `_csrf` field) and, when the browser sends one, a same-site Origin.
 */
export const webAuthPlugin = (deps: AppDeps) =>
  new Elysia({ name: "web-auth" }).macro({
    portal: {
      async resolve(ctx) {
        // The session, its account and its member in one read (see getPortalSession).
        const found = await getPortalSession(deps.store, cookieOf(ctx as unknown as Ctx, "customer"), deps.now());
        const g = guard(deps, "customer", ctx as unknown as Ctx, found?.session ?? null);
        if ("stop" in g) return g.stop as never;
        const account = found!.account;
        const member = await portalMember(deps, g.session, account, found!.member);
        if (!member) {
          // Removed from the account: this session ends with the next request.
          await deleteSession(deps.store, g.session.token);
          return toSignIn("customer", ctx as unknown as Ctx) as never;
        }
        const ownerOnly = refuseNonOwner(ctx as unknown as Ctx, member.role);
        if (ownerOnly) return ownerOnly as never;
        const refused = refuseSuspended(deps, ctx as unknown as Ctx, account);
        if (refused) return refused as never;
        const user: PortalUser = { session: g.session, account, email: member.email, member: { id: member.id, role: member.role } };
        return { user };
      },
    },
    console: {
      async resolve(ctx) {
        // Only a session opened with this instance's admin token (see getSession).
        const session = await getSession(deps.store, cookieOf(ctx as unknown as Ctx, "admin"), "admin", deps.now(), deps.adminTokenHash);
        const g = guard(deps, "admin", ctx as unknown as Ctx, session);
        if ("stop" in g) return g.stop as never;
        return { operator: { session: g.session, actor: "admin:console" } };
      },
    },
  });

/**
 * Errors on dashboard pages render as HTML (the global handler answers JSON). A refused form post
 * goes back to the page it came from with the message; anything else gets an error page.
 */
export function htmlError(deps: AppDeps, error: unknown, request: Request, prefix: string, home: { href: string; label: string }): Response | undefined {
  const url = new URL(request.url);
  if (!url.pathname.startsWith(prefix)) return;
  if (!(error instanceof ApiError)) {
    if ((error as { code?: string })?.code === "NOT_FOUND") error = errors.notFound("Page");
    else return;
  }
  const e = error as ApiError;
  const referer = request.headers.get("referer");
  if (request.method === "POST" && e.status < 500 && referer) {
    const from = new URL(referer, url);
    if (from.origin === url.origin && from.pathname.startsWith(prefix)) {
      return redirectResponse(from.pathname + from.search, [flashCookie({ kind: "error", message: e.message }, isSecure(deps, request))]);
    }
  }
  const title = e.status === 404 ? "Not found" : e.status < 500 ? "That did not work" : "Something went wrong";
  return htmlResponse(errorPage(e.status, title, e.message, home), e.status);
}

/** Runs a dashboard handler's work so that its errors render as HTML (see htmlError). */
export const htmlErrors =
  (deps: AppDeps, prefix: string, home: { href: string; label: string }) =>
  async <R>(request: Request, fn: () => R): Promise<Awaited<R> | Response> => {
    try {
      return await fn();
    } catch (e) {
      const res = htmlError(deps, e, request, prefix, home);
      if (res) return res;
      throw e;
    }
  };
