import type { ModuleDeps } from "../../runtime/module-deps";
import { html, htmlResponse, redirectResponse, type Html } from "../html";
import { OWNER_NAV, page, PORTAL_NAV } from "../layout";
import { flashCookie, htmlErrors, isSecure, takeFlash, type PortalUser } from "../session";
import { suspendedBanner } from "./views/overview";

// A fresh object per route: Elysia writes the macro's hooks into the options object it is given,
// so a shared one would carry one app's hooks into the next (several apps run in one test process).
/** Who a portal change is audited as: the account and, signed in as one, the member. */
export const portalActor = (u: PortalUser): string => (u.member.id ? `portal:${u.account.id}:${u.member.id}` : `portal:${u.account.id}`);

export const hide = () => ({ portal: true, detail: { hide: true } }) as const;
export const DAY_MS = 86_400_000;

/** What the portal's pages share: error pages, the page frame, flash redirects and the actor. */
export function portalKit(deps: ModuleDeps) {
  return {
    /** Runs a handler so that its errors render as portal pages (see htmlErrors). */
    safe: htmlErrors(deps, "/portal", { href: "/portal", label: "Back to the portal" }),
    /** Audit actor: the account, and the member when there is one. */
    actor: portalActor,
    render: (request: Request, u: PortalUser, active: string, title: string, body: Html, o: { status?: number; chart?: boolean } = {}) => {
      const f = takeFlash(request);
      return htmlResponse(
        page({
          area: "portal", title, active, who: u.email, csrf: u.session.csrf, flash: f.flash, chart: o.chart, nav: navFor(u),
          body: html`${suspendedBanner(u.account)}${body}`,
        }),
        o.status ?? 200,
        f.headers,
      );
    },
    back: (request: Request, to: string, kind: "ok" | "error", message: string) =>
      redirectResponse(to, [flashCookie({ kind, message }, isSecure(deps, request))]),
    // Read-only while suspended: forms are shown disabled, and the portal macro refuses their posts.
    suspended: (u: PortalUser) => u.account.status !== "active",
  };
}

export type PortalKit = ReturnType<typeof portalKit>;

/** The portal's navigation for the signed-in member: billing, credits and members are the owner's. */
export const navFor = (u: PortalUser) => (u.member.role === "owner" ? PORTAL_NAV : PORTAL_NAV.filter((n) => !OWNER_NAV.has(n.id)));

/** Owners and admins see every key and all usage; members their own. */
export const seesAll = (u: PortalUser) => u.member.role !== "member";
