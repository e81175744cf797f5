import { Elysia } from "elysia";
import { checkAdminToken } from "../../identity/admin-token";
import { bearer } from "../../lib/bearer";
import { clientAddress, takesAdminToken, throttleKey } from "../../lib/client-address";
import { ApiError, errors } from "../../lib/errors";
import type { ModuleDeps } from "../module-deps";

/**
 * The admin API's door: every /admin (and /metrics) request shows the admin token before anything else is looked
 * at (a bad body with a bad token is a 401, not a 400 that confirms the route), and an address
 * that keeps presenting wrong tokens gets 429 with retry-after instead of an answer per guess.
 * The `admin` macro checks the token again per route.
 */
export const adminGate = (deps: ModuleDeps) =>
  new Elysia().onRequest(({ request, server }) => {
    if (!takesAdminToken(request.url)) return;
    const throttle = deps.throttles.adminApi;
    const key = throttleKey(clientAddress(request, server, deps.config.trusted_proxy_header));
    // Checked without an await: nothing is in flight, so only a wrong token is counted, as it fails.
    const wait = throttle.retryAfterMs(key);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new ApiError(429, `Too many requests with a wrong admin token from this address. Try again in ${seconds} s.`, "requests", "too_many_failed_auth", null, {
        "retry-after": String(seconds),
      });
    }
    if (!checkAdminToken(bearer(request.headers.get("authorization")), deps.adminTokenHash)) {
      throttle.fail(key);
      throw errors.adminAuth();
    }
    throttle.reset(key);
  });
