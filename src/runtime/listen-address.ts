import { ipVersion } from "../lib/ip";
import { ConfigError } from "../config/load";

/** A host as a URL writes it: an IPv6 literal in brackets (its zone's % escaped). */
export function urlHost(host: string): string {
  return ipVersion(host) === 6 ? `[${host.replace("%", "%25")}]` : host;
}

/** The origin a listener on `host` is reached at from this machine: a wildcard address means loopback. */
export function localOrigin(host: string, port: number): string {
  const wildcard4 = host === "0.0.0.0";
  const wildcard6 = ipVersion(host) === 6 && /^[0:]+$/.test(host);
  return `http://${wildcard4 ? "127.0.0.1" : wildcard6 ? "[::1]" : urlHost(host)}:${port}`;
}

/** The one line a failed listen gives, naming the settings to change. */
export function listenError(e: unknown, host: string, port: number, why?: string): ConfigError {
  const code = (e as NodeJS.ErrnoException).code;
  const reason =
    why ??
    (code === "EADDRINUSE"
      ? "the port is in use (another process listens on it)"
      : code === "EACCES"
        ? "permission denied (a port below 1024 needs privileges)"
        : code === "ENOTFOUND" || code === "EAI_AGAIN"
          ? "the host name does not resolve"
          : code === "EINVAL" || code === "EADDRNOTAVAIL"
            ? "the host name does not resolve, or its address is not one of this machine's"
            : (e as Error).message);
  return new ConfigError(`cannot listen on host ${JSON.stringify(host)} port ${port} (host, env HOST; port, env PORT): ${reason}`);
}

/**
 * Listens on `host`:`port` for a moment and stops: `serve` opens (and migrates) the database
 * before it listens, so a busy port or a host it cannot listen on is found first this way.
 */
export async function checkListen(host: string, port: number): Promise<void> {
  let probe: ReturnType<typeof Bun.serve>;
  try {
    // Stopped before the event loop turns: a connection that comes meanwhile is reset, never answered.
    probe = Bun.serve({ hostname: host, port, fetch: () => new Response(null, { status: 503 }) });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "EADDRNOTAVAIL") throw listenError(e, host, port);
    // Bun says EINVAL both for a name that does not resolve and for an address of another machine.
    // node:dns only on this path: not loaded by every start.
    const { lookup } = await import("node:dns/promises");
    const resolves = ipVersion(host) !== 0 || (await lookup(host).then(() => true, () => false));
    throw listenError(e, host, port, resolves ? "no network interface of this machine has its address" : "the host name does not resolve");
  }
  await probe.stop(true);
}
