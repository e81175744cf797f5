/**
 * The header the server puts the client's socket address in before a request reaches the
 * Elysia app (whatever a client sent in it is replaced): the app's copy of a request has no socket.
 */
export const PEER_HEADER = "x-tollgate-peer";

/**
 * The address a request came from, for per-client throttles: the first address of the trusted
 * proxy header when one is configured (behind nginx: X-Forwarded-For), else the socket's.
 */
export function clientAddress(request: Request, trustedProxyHeader?: string | null): string {
  if (trustedProxyHeader) {
    const forwarded = request.headers.get(trustedProxyHeader)?.split(",")[0]?.trim();
    if (forwarded) return forwarded;
  }
  return request.headers.get(PEER_HEADER) || "unknown";
}
