import { Elysia } from "elysia";
import { isCustomerApi, isPreflight, type Cors } from "../../lib/cors";

/**
 * CORS on the customer API routes that Elysia serves (src/lib/cors.ts): answers preflights, and
 * adds the allow headers to every response of an allowed origin, errors included. The chat route,
 * which runs ahead of Elysia, adds them itself (server.ts).
 */
export const cors = (policy: Cors | null) =>
  new Elysia({ name: "cors" }).onRequest(({ request, set }) => {
    if (!policy || !isCustomerApi(request.url)) return;
    if (isPreflight(request)) return policy.preflight(request);
    const headers = policy.headers(request.headers.get("origin"));
    if (headers) Object.assign(set.headers, headers);
  });
