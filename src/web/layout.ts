import { readFileSync } from "node:fs";
import appCss from "./app.css" with { type: "file" };
import appJs from "./app.js" with { type: "file" };
import { html, raw, type Html } from "./html";

export type Area = "portal" | "console";

export interface NavItem {
  href: string;
  label: string;
  id: string;
}

export const PORTAL_NAV: NavItem[] = [
  { id: "overview", href: "/portal", label: "Overview" },
  { id: "keys", href: "/portal/keys", label: "API keys" },
  { id: "usage", href: "/portal/usage", label: "Usage" },
  { id: "credits", href: "/portal/credits", label: "Credits" },
  { id: "billing", href: "/portal/billing", label: "Billing" },
  { id: "members", href: "/portal/members", label: "Members" },
  { id: "quickstart", href: "/portal/quickstart", label: "Quickstart" },
];

/** What only the owner sees in the portal's navigation (the pages refuse others too). */
export const OWNER_NAV = new Set(["credits", "billing", "members"]);

export const CONSOLE_NAV: NavItem[] = [
  { id: "accounts", href: "/console/accounts", label: "Accounts" },
  { id: "codes", href: "/console/codes", label: "Credit codes" },
  { id: "payments", href: "/console/payments", label: "Payments" },
  { id: "usage", href: "/console/usage", label: "Usage" },
  { id: "margins", href: "/console/margins", label: "Margins" },
  { id: "models", href: "/console/models", label: "Models & prices" },
  { id: "health", href: "/console/health", label: "Upstream health" },
  { id: "audit", href: "/console/audit", label: "Audit log" },
];

export interface Flash {
  kind: "ok" | "error" | "warn";
  message: string;
}

let version: string | undefined;
/** Cache-busting suffix for asset URLs, from the embedded files' contents. */
function assetVersion(): string {
  if (version === undefined) {
    try {
      version = Bun.hash(readFileSync(appCss, "utf8") + readFileSync(appJs, "utf8")).toString(36).slice(0, 8);
    } catch {
      version = "0";
    }
  }
  return version;
}

function head(title: string, chart: boolean): Html {
  const v = assetVersion();
  return html`<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>${title} · Tollgate</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css?v=${v}">
${chart && html`<link rel="stylesheet" href="/assets/uplot.css?v=${v}"><script src="/assets/uplot.js?v=${v}" defer></script>`}
<script src="/assets/app.js?v=${v}" defer></script>
</head>`;
}

export function flashBox(flash: Flash | null | undefined): Html {
  if (!flash) return html``;
  return html`<div class="flash ${flash.kind}" role="${flash.kind === "error" ? "alert" : "status"}">${flash.message}</div>`;
}

/** Hidden CSRF field for every state-changing form. */
export const csrfField = (token: string): Html => html`<input type="hidden" name="_csrf" value="${token}">`;

export interface PageOptions {
  area: Area;
  title: string;
  active: string;
  /** Shown at the right of the top bar (email or "Operator"). */
  who: string;
  csrf: string;
  flash?: Flash | null;
  chart?: boolean;
  body: Html;
  /** The navigation to show (default: the area's whole navigation). */
  nav?: NavItem[];
}

export function page(o: PageOptions): Html {
  const nav = o.nav ?? (o.area === "portal" ? PORTAL_NAV : CONSOLE_NAV);
  const home = o.area === "portal" ? "/portal" : "/console/accounts";
  return html`<html lang="en">
${head(o.title, o.chart ?? false)}
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="topbar">
  <div class="topbar-inner">
    <a class="brand" href="${home}"><span class="brand-mark" aria-hidden="true"></span>Tollgate${o.area === "console" && html` <small>Console</small>`}</a>
    <nav class="nav" aria-label="Main">
      ${nav.map((n) => html`<a href="${n.href}"${n.id === o.active ? raw(' aria-current="page"') : ""}>${n.label}</a>`)}
    </nav>
    <div class="who">
      <span>${o.who}</span>
      <form method="post" action="/${o.area}/logout">${csrfField(o.csrf)}<button class="btn small" type="submit">Sign out</button></form>
    </div>
  </div>
</header>
<main id="main">
${flashBox(o.flash)}
${o.body}
</main>
</body>
</html>`;
}

/** Sign-in, invite and sign-up pages: one centred card, no navigation. */
export function authPage(title: string, body: Html, subtitle?: string): Html {
  return html`<html lang="en">
${head(title, false)}
<body>
<main class="auth" id="main">
  <div class="card">
    <div class="brand"><span class="brand-mark" aria-hidden="true"></span>Tollgate${subtitle && html` <small>${subtitle}</small>`}</div>
    ${body}
  </div>
</main>
</body>
</html>`;
}

export function errorPage(status: number, title: string, message: string, back: { href: string; label: string }): Html {
  return authPage(
    title,
    html`<h1>${title}</h1><p class="muted">${message}</p><p class="muted">Error ${status}.</p><a class="btn" href="${back.href}">${back.label}</a>`,
  );
}

export function pageHead(title: string, subtitle?: string | Html, actions?: Html): Html {
  return html`<div class="page-head"><div><h1>${title}</h1>${subtitle && html`<p>${subtitle}</p>`}</div>${actions && html`<div>${actions}</div>`}</div>`;
}

export function empty(title: string, text: string | Html): Html {
  return html`<div class="empty"><strong>${title}</strong>${text}</div>`;
}

export function field(o: {
  name: string;
  label: string;
  type?: string;
  value?: string | null;
  hint?: string;
  error?: string;
  required?: boolean;
  attrs?: string;
  id?: string;
}): Html {
  const id = o.id ?? `f-${o.name}`;
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const described = [o.hint ? hintId : "", o.error ? errId : ""].filter(Boolean).join(" ");
  return html`<div class="field">
  <label for="${id}">${o.label}</label>
  <input id="${id}" name="${o.name}" type="${o.type ?? "text"}" value="${o.value ?? ""}"${o.required ? raw(" required") : ""}${
    o.error ? raw(' aria-invalid="true"') : ""
  }${described ? html` aria-describedby="${described}"` : ""} ${raw(o.attrs ?? "")}>
  ${o.hint && html`<span class="hint" id="${hintId}">${o.hint}</span>`}
  ${o.error && html`<span class="error" id="${errId}">${o.error}</span>`}
</div>`;
}
