/**
 * Bun's fetch has no connect timeout of its own (a silent host costs the whole first-byte wait),
 * so before an upstream host is used for the first time, or after it failed, a plain TCP connect
 * to it must succeed within `connect_ms`. While the host answers, no check is made.
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
