import type { ModuleDeps } from "../../runtime/module-deps";
import { typedUsd } from "../forms";
import { htmlResponse, redirectResponse, type Html } from "../html";
import { page, type Flash } from "../layout";
import { accountViews, getAccountRow } from "../../modules/accounts/service";
import { flashCookie, htmlErrors, isSecure, takeFlash } from "../session";

// A fresh object per route: Elysia writes the macro's hooks into the options object it is given,
// so a shared one would carry one app's hooks into the next (several apps run in one test process).
export const hide = () => ({ console: true, detail: { hide: true } }) as const;
export const DAY_MS = 86_400_000;
/** The signed-in operator, as the `console` macro resolves it. */
export type Op = { session: { csrf: string; token: string }; actor: string };

/** An amount in USD as typed in a form ("$12.50", "+3", "-1", "12,50"), in micros; null when it is not one. */
export function money(v: string): number | null {
  try {
    return typedUsd(v);
  } catch {
    return null;
  }
}

/** What the console's pages share: error pages, the page frame, flash redirects, accounts and plans. */
export function consoleKit(deps: ModuleDeps) {
  return {
    /** Runs a handler so that its errors render as console pages (see htmlErrors). */
    safe: htmlErrors(deps, "/console", { href: "/console/accounts", label: "Back to the console" }),
    render: (request: Request, op: Op, active: string, title: string, body: Html, status = 200, chart = false) => {
      const f = takeFlash(request);
      return htmlResponse(page({ area: "console", title, active, who: "Operator", csrf: op.session.csrf, flash: f.flash, chart, body }), status, f.headers);
    },
    back: (request: Request, to: string, kind: Flash["kind"], message: string) =>
      redirectResponse(to, [flashCookie({ kind, message }, isSecure(deps, request))]),
    // Holds of every instance counted (a shared store): any instance shows an account alike.
    view: async (id: string) => (await accountViews(deps.credits, [await getAccountRow(deps.store, id)]))[0]!,
    plans: () => Object.keys(deps.config.plans),
  };
}

export type ConsoleKit = ReturnType<typeof consoleKit>;
