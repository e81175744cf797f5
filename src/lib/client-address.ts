/** The header the server puts the client's socket address in before the Elysia app sees a request. */
export const PEER_HEADER = "x-tollgate-peer";

/** What the address needs of Bun's server (Elysia's `server` in a handler's context). */
export interface AddressSource {
  requestIP(request: Request): { address: string } | null;
}

/**
 * The client's address, for throttles that must hit one client and never everyone. Behind a
 * reverse proxy every connection comes from the proxy, so with `trustedHeader` set (e.g.
 * "x-forwarded-for" or "x-real-ip") its last entry wins: the one the proxy added, which a client
 * cannot forge (entries before it can be). Without the header (a client reaching the gateway
 * directly), or when none is configured, the socket's address.
 */
export function clientAddress(request: Request, server: AddressSource | null | undefined, trustedHeader?: string): string {
  if (trustedHeader) {
    const value = request.headers.get(trustedHeader);
    const last = value?.split(",").pop()?.trim();
    if (last) return last.slice(0, 100);
  }
  // The app gets a copy of the request (its body read within its limits), which has no socket:
  // the server put the socket's address in PEER_HEADER (whatever a client sent there is replaced).
  return server?.requestIP(request)?.address || request.headers.get(PEER_HEADER) || "unknown";
}

/** /admin and below, and /metrics, each with or without the trailing slash the router also serves. */
const ADMIN_PATH = /^\/(admin(\/|$)|metrics\/?$)/;

/** Whether a URL takes the admin token: the admin API under /admin, and /metrics. */
export function takesAdminToken(url: string): boolean {
  const own = url.slice(url.indexOf("/", url.indexOf("//") + 2));
  return ADMIN_PATH.test(own.split("?")[0]!);
}

/**
 * The key a throttle counts an address under: an IPv6 address by its /64 network, which is what
 * one client (one home or one server) is usually given, so rotating within it gains nothing.
 */
export function throttleKey(address: string): string {
  if (!address.includes(":")) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const [head = "", tail] = address.split("%")[0]!.toLowerCase().split("::");
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}
