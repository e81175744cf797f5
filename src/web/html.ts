/**
 * Server-rendered HTML with escaping by default: every interpolated value is escaped unless it is
 * already `Html` (produced by this tag or `raw`). Arrays are joined, null/undefined/false render
 * as nothing, so `${cond && html`...`}` and `${rows.map(...)}` read naturally.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Marks trusted markup as safe; never pass user input. */
export const raw = (s: string): Html => new Html(s);

function render(v: unknown): string {
  if (v === null || v === undefined || v === false) return "";
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join("");
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** JSON embedded in a <script type="application/json"> block: `<` is escaped so it cannot close the tag. */
export function jsonScript(id: string, data: unknown): Html {
  const json = JSON.stringify(data).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  return raw(`<script type="application/json" id="${escapeHtml(id)}">${json}</script>`);
}

/** Extra headers; `set-cookie` may repeat, so pairs are appended rather than merged. */
export type HeaderPairs = [string, string][];

/** What every HTML page sends, whatever its script policy: never framed, never sniffed, no referrer elsewhere. */
export const PAGE_GUARDS = {
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
} as const;

export function htmlResponse(body: Html | string, status = 200, extra: HeaderPairs = []): Response {
  const headers = new Headers({
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    ...PAGE_GUARDS,
    "content-security-policy":
      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  });
  for (const [k, v] of extra) headers.append(k, v);
  return new Response(`<!doctype html>\n${body}`, { status, headers });
}

export function redirectResponse(location: string, extra: HeaderPairs = []): Response {
  const headers = new Headers({ location, "cache-control": "no-store" });
  for (const [k, v] of extra) headers.append(k, v);
  return new Response(null, { status: 303, headers });
}

/** A sign-in form's answer while its throttle pauses: the wait in minutes in the text, in seconds in retry-after. */
export function pausedAnswer(render: (status: number, message: string) => Response, waitMs: number): Response {
  const res = render(429, `Too many failed attempts. Try again in ${Math.ceil(waitMs / 60_000)} minute(s).`);
  res.headers.set("retry-after", String(Math.ceil(waitMs / 1000)));
  return res;
}
