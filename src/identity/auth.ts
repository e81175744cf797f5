import { Elysia } from "elysia";
import type { AppDeps } from "../runtime/deps";
import { errors } from "../lib/errors";
import { bearer } from "../lib/bearer";
import { checkAdminToken } from "./admin-token";
import { budgetHeaders } from "../gateway/budget-headers";

/**
 * Auth as macros: `{ admin: true }` requires the admin token, `{ customer: true }` resolves the
 * calling key into `principal`. Customer keys are never accepted on admin routes and vice versa.
 */
export const authPlugin = (deps: AppDeps) =>
  new Elysia({ name: "auth" }).macro({
    admin: {
      resolve({ headers }) {
        if (!checkAdminToken(bearer(headers.authorization), deps.adminTokenHash)) throw errors.adminAuth();
        return { actor: "admin" };
      },
    },
    customer: {
      async resolve({ headers, set }) {
        const key = bearer(headers.authorization) ?? headers["x-api-key"] ?? null;
        // A promise only on a shared store, for a key not in memory.
        const principal = await deps.keys.authenticate(key);
        // x-ratelimit-* (and x-budget-remaining) on every customer response; the chat route overrides them with its admission's.
        Object.assign(set.headers, deps.limiter.headers(principal), budgetHeaders(deps.credits, principal));
        return { principal };
      },
    },
  });
