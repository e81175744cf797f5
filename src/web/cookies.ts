/** Cookie parsing and Set-Cookie serialisation for the dashboard (values are base62 tokens). */
export function readCookies(header: string | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    const name = part.slice(0, i).trim();
    if (name in out) continue;
    try {
      out[name] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      // Not valid percent-encoding: not a cookie we set; ignored rather than failing the page.
    }
  }
  return out;
}

export interface CookieOptions {
  path: string;
  /** Seconds; 0 deletes the cookie; omitted = session cookie. */
  maxAge?: number;
  secure?: boolean;
  httpOnly?: boolean;
  sameSite?: "Lax" | "Strict";
}

export function setCookie(name: string, value: string, o: CookieOptions): [string, string] {
  const parts = [`${name}=${encodeURIComponent(value)}`, `Path=${o.path}`, `SameSite=${o.sameSite ?? "Lax"}`];
  if (o.maxAge !== undefined) parts.push(`Max-Age=${o.maxAge}`);
  if (o.httpOnly !== false) parts.push("HttpOnly");
  if (o.secure) parts.push("Secure");
  return ["set-cookie", parts.join("; ")];
}

export const clearCookie = (name: string, path: string): [string, string] => setCookie(name, "", { path, maxAge: 0 });
