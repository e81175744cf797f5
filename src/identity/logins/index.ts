import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { IdParams } from "../../modules/accounts/model";
import { InviteBody, InviteView } from "./model";
import { createInvite } from "./service";

/** The public base URL for links handed to customers (configured, else the one this request used). */
export const publicBase = (deps: ModuleDeps, request: Request) => deps.config.public_url ?? new URL(request.url).origin;

export const loginsModule = (deps: ModuleDeps) =>
  new Elysia({ prefix: "/admin/accounts", tags: ["admin"] })
    .use(deps.auth)
    .post(
      "/:id/invite",
      async ({ params, body, actor, request, status }) =>
        status(
          201,
          await createInvite(deps.store, {
            accountId: params.id,
            email: body?.email,
            ttlMs: deps.config.invite_ttl_hours * 3_600_000,
            actor,
            baseUrl: publicBase(deps, request),
          }, deps.now()),
        ),
      {
        admin: true,
        params: IdParams,
        body: InviteBody.optional(),
        response: { 201: InviteView },
        detail: {
          summary: "Create a one-time invite link with which the customer sets a dashboard password (also resets a forgotten one)",
        },
      },
    );
