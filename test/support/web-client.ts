/**
 * A tiny browser stand-in for dashboard tests: keeps cookies, posts forms with the page's CSRF
 * token, and does not follow redirects (tests look at them).
 */
export class WebClient {
  readonly cookies = new Map<string, string>();
  constructor(readonly base: string) {}

  private remember(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const i = pair!.indexOf("=");
      const name = pair!.slice(0, i).trim();
      const value = pair!.slice(i + 1).trim();
      const maxAge = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith("max-age="));
      if (value === "" || maxAge === "Max-Age=0") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /** The Cookie header this client sends. */
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(this.base + path, { redirect: "manual", headers: { cookie: this.header(), ...headers } });
    this.remember(res);
    return res;
  }

  /** GET and return the body text (asserting nothing). */
  async page(path: string): Promise<{ res: Response; html: string }> {
    const res = await this.get(path);
    return { res, html: await res.text() };
  }

  async post(path: string, form: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<Response> {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    const res = await fetch(this.base + path, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: this.header(), "content-type": "application/x-www-form-urlencoded", ...headers },
      body,
    });
    this.remember(res);
    return res;
  }

  /** Loads `path`, then posts `form` to `action` with the CSRF token found on that page. */
  async submit(path: string, action: string, form: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<Response> {
    const { html } = await this.page(path);
    return this.post(action, { _csrf: csrfOf(html), ...form }, headers);
  }
}

export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error("no CSRF field on the page");
  return m[1]!;
}
