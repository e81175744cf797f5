import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { IdParams } from "../accounts/model";
import { AccountPlanView, KeyLimitsBody, KeyLimitsView, PlansList, SetPlanBody } from "./model";
import { getAccountPlan, getKeyLimits, setAccountPlan, setKeyLimits } from "./service";
import { keyLimitsView, planView } from "./views";

/** Admin routes for rate-limit plans and per-key limits (changes apply from the next request). */
export const ratelimitModule = (deps: ModuleDeps) =>
  new Elysia({ prefix: "/admin", tags: ["admin"] })
    .use(deps.auth)
    .get(
      "/plans",
      () => ({
        object: "list" as const,
        default_plan: deps.config.default_plan,
        data: Object.entries(deps.config.plans).map(([name, l]) => ({ object: "plan" as const, name, ...l })),
        tiers: deps.config.tiers.map((t) => ({ ...t })),
      }),
      { admin: true, response: PlansList, detail: { summary: "Configured rate-limit plans and usage tiers" } },
    )
    .get("/accounts/:id/plan", async ({ params }) => planView(await getAccountPlan(deps.store, deps.config, params.id)), {
      admin: true,
      params: IdParams,
      response: AccountPlanView,
      detail: { summary: "An account's plan, its limits and the next usage tier" },
    })
    .put(
      "/accounts/:id/plan",
      async ({ params, body, actor }) => planView(await setAccountPlan(deps.store, deps.config, params.id, body.plan, actor, deps.now())),
      {
        admin: true,
        params: IdParams,
        body: SetPlanBody,
        response: AccountPlanView,
        detail: { summary: "Move an account to a configured plan (audited; applies from the next request)" },
      },
    )
    .get("/keys/:id/limits", async ({ params }) => keyLimitsView(await getKeyLimits(deps.store, deps.config, params.id)), {
      admin: true,
      params: IdParams,
      response: KeyLimitsView,
      detail: { summary: "A key's rate-limit overrides and effective key-level limits" },
    })
    .put(
      "/keys/:id/limits",
      async ({ params, body, actor }) =>
        keyLimitsView(
          await setKeyLimits(
            deps.store,
            deps.config,
            params.id,
            { rpm: body.rpm ?? null, tpm: body.tpm ?? null, concurrency: body.concurrency ?? null },
            actor,
            deps.now(),
          ),
        ),
      {
        admin: true,
        params: IdParams,
        body: KeyLimitsBody,
        response: KeyLimitsView,
        detail: { summary: "Replace a key's overrides (omitted or null = the plan's value; they only tighten the plan)" },
      },
    );
