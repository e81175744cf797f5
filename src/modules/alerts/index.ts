import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { errors } from "../../lib/errors";
import { IdParams } from "../accounts/model";
import { ownerKeyAuth, OWNER_ONLY_NOTE } from "../members/owner-key";
import { LowBalanceBody, LowBalanceView } from "./model";
import type { AlertService } from "./service";
import { withinLimits } from "../../gateway/limits/within-limits";

export const alertsModule = (deps: ModuleDeps) => {
  const alerts = (): AlertService => {
    if (!deps.alerts) throw errors.notFound("Alerts");
    return deps.alerts;
  };
  // The alert is part of the owner's billing, in the portal as here.
  const customer = new Elysia({ prefix: "/v1/alerts", tags: ["alerts"] })
    .use(ownerKeyAuth(deps))
    .get("/low-balance", async ({ principal }) => await alerts().view(principal.accountId), {
      ownerKey: true,
      response: LowBalanceView,
      detail: { summary: "Low-balance alert: threshold, whether it is armed, recent alerts", description: OWNER_ONLY_NOTE },
    })
    // A write a key could loop: a request of its rate limits.
    .put("/low-balance", ({ principal, body, set }) => withinLimits(deps.limiter, principal, set, () => alerts().setThreshold(principal.accountId, body.threshold_micros, `key:${principal.keyId}`)), {
      ownerKey: true,
      body: LowBalanceBody,
      response: LowBalanceView,
      detail: {
        summary: "Set the account's low-balance threshold (0 = off, null = the operator's default)",
        description: `${OWNER_ONLY_NOTE} A request of the key's and account's rate limits (429 \`rate_limit_exceeded\` past them). The threshold the account already has changes nothing and is not audited.`,
        responses: { 429: { description: "Past the key's or account's rate limits (the OpenAI error envelope)" } },
      },
    });
  const admin = new Elysia({ prefix: "/admin/accounts", tags: ["admin"] })
    .use(deps.auth)
    .get("/:id/alerts/low-balance", async ({ params }) => await alerts().view(params.id), {
      admin: true,
      params: IdParams,
      response: LowBalanceView,
      detail: { summary: "An account's low-balance alert: threshold, armed, recent alerts and their delivery" },
    })
    .put("/:id/alerts/low-balance", async ({ params, body, actor }) => await alerts().setThreshold(params.id, body.threshold_micros, actor), {
      admin: true,
      params: IdParams,
      body: LowBalanceBody,
      response: LowBalanceView,
      detail: { summary: "Set an account's low-balance threshold (0 = off, null = the default)" },
    });
  return new Elysia().use(customer).use(admin);
};
