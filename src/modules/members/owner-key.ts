import { Elysia } from "elysia";
import { ApiError } from "../../lib/errors";
import type { ModuleDeps } from "../../runtime/module-deps";
import { keyRole } from "./service";

/** What an admin's or member's key gets on a route of the owner's. */
export const ownerOnly = () =>
  new ApiError(
    403,
    "Only the account's owner can do this: billing, credits and alerts are the owner's. Use a key the owner (or the operator) made.",
    "permission_error",
    "owner_only",
  );

/** The line the OpenAPI description of every owner-only route carries. */
export const OWNER_ONLY_NOTE =
  "Owner only: a key made by an admin or a member of the account gets 403 `permission_error` / `owner_only`; keys the operator made are the owner's.";

/**
 * `{ ownerKey: true }`: `{ customer: true }` for the routes the portal keeps for the account's
 * owner (billing, credits, alerts), so that an admin's or member's key cannot do through the API
 * what their portal pages refuse them. One macro, so no owner-only route can forget the check.
 */
export const ownerKeyAuth = (deps: ModuleDeps) =>
  new Elysia().use(deps.auth).macro("ownerKey", {
    customer: true,
    async resolve({ principal }) {
      if ((await keyRole(deps.store, principal)) !== "owner") throw ownerOnly();
    },
  });
