/**
 * Bun's fetch has no connect timeout of its own (a silent host costs the whole first-byte wait),
 * so before an upstream host is used for the first time, or after it failed, a plain TCP connect
 * to it (or to the egress proxy its requests go through) must succeed within `connect_ms`. While
 * the host answers, no check is made.
 */
export function tcpCheck(hostname: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (problem: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(problem);
    };
    const timer = setTimeout(() => finish(`no TCP connection within ${timeoutMs} ms`), timeoutMs);
    Bun.connect({
      hostname,
      port,
      socket: {
        open(s) {
          s.end();
          finish(null);
        },
        data() {},
        error(_s, e) {
          finish(e.message);
        },
        connectError(_s, e) {
          finish(e.message);
        },
      },
    }).then(
      (s) => {
        if (settled) s.end();
      },
      (e: unknown) => finish(e instanceof Error ? e.message : String(e)),
    );
  });
}

/** Host and port of a base URL (default ports filled in). */
export function hostPort(baseUrl: string): { hostname: string; port: number } {
  const u = new URL(baseUrl);
  const port = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
  // URL keeps IPv6 literals in brackets; sockets want them bare.
  return { hostname: u.hostname.replace(/^\[(.*)\]$/, "$1"), port };
}

type Address = { hostname: string; port: number };
type Env = Record<string, string | undefined>;

/**
 * The egress proxies of the environment, as Bun's fetch applies them (`https_proxy` for https
 * base URLs, `http_proxy` for http; lower case first; hosts in `no_proxy` go direct). Read once
 * at start: the connect check must dial the proxy, since a host behind it may be unreachable directly.
 */
export interface EgressProxies {
  http: Address | null;
  https: Address | null;
  noProxy: string[];
}

export function egressProxies(env: Env): EgressProxies {
  const get = (name: string) => (env[name] ?? env[name.toUpperCase()] ?? "").trim().replace(/^(""|'')$/, "");
  return {
    http: proxyAddress(get("http_proxy")),
    https: proxyAddress(get("https_proxy")),
    noProxy: get("no_proxy").toLowerCase().split(/[\s,]+/).filter(Boolean),
  };
}

/** Host and port of a proxy setting (a bare `host:port` is http); null when unset or unreadable. */
function proxyAddress(value: string): Address | null {
  if (!value) return null;
  try {
    return hostPort(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    return null;
  }
}

/** What the connect check dials for a base URL: the proxy its requests go through, else its host. */
export function connectAddress(baseUrl: string, proxies: EgressProxies): Address {
  const target = hostPort(baseUrl);
  const proxy = new URL(baseUrl).protocol === "https:" ? proxies.https : proxies.http;
  return proxy && !bypassesProxy(target, proxies.noProxy) ? proxy : target;
}

/** `no_proxy` entries: `*`, a host or IP, a domain (`example.com` or `.example.com`: it and its subdomains), each optionally `:port`. */
export function bypassesProxy(target: Address, entries: readonly string[]): boolean {
  const host = target.hostname.toLowerCase();
  return entries.some((entry) => {
    if (entry === "*") return true;
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry) ?? /^([^:]*)(?::(\d+))?$/.exec(entry) ?? [entry, entry];
    const name = m[1]!.replace(/^\*?\./, "");
    if (m[2] !== undefined && Number(m[2]) !== target.port) return false;
    return name !== "" && (host === name || host.endsWith(`.${name}`));
  });
}
