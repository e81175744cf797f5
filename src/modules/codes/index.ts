import { Elysia } from "elysia";
import type { ModuleDeps } from "../../runtime/module-deps";
import { microsToUsd } from "../../money/units";
import { ownerKeyAuth, OWNER_ONLY_NOTE } from "../members/owner-key";
import { CodeBatch, CodeList, CreateCodesBody, ListCodesQuery, RedeemBody, Redemption } from "./model";
import { throttledRedeem } from "./redeem";
import { withinLimits } from "../../gateway/limits/within-limits";
import { codeCursor, codeView, createCodes, listCodes } from "./service";

export const codesModule = (deps: ModuleDeps) =>
  new Elysia()
    .use(deps.auth)
    .use(ownerKeyAuth(deps))
    .post("/admin/codes", async ({ body, actor, status }) => status(201, await createCodes(deps.store, body, actor, deps.now())), {
      admin: true,
      body: CreateCodesBody,
      response: { 201: CodeBatch },
      detail: { summary: "Create a batch of single-use credit codes (the codes are returned only in this response)", tags: ["admin"] },
    })
    .get(
      "/admin/codes",
      async ({ query }) => {
        const now = deps.now();
        const rows = await listCodes(deps.store, { ...query, limit: query.limit + 1 }, now);
        const last = rows.length > query.limit ? rows[query.limit - 1]! : null;
        return { object: "list" as const, has_more: last !== null, next_cursor: last && codeCursor(last), data: rows.slice(0, query.limit).map((r) => codeView(r, now)) };
      },
      {
        admin: true,
        query: ListCodesQuery,
        response: CodeList,
        detail: { summary: "List credit codes (never the code itself), filtered by batch and status", tags: ["admin"] },
      },
    )
    .post(
      "/v1/credits/redeem",
      async ({ body, principal, set }) => {
        // A durable write a key could loop (replaying a code it redeemed succeeds each time): a request of its rate limits.
        const redeem = () => throttledRedeem(deps.store, deps.throttles.redeem, principal.accountId, body.code, `key:${principal.keyId}`, deps.now(), deps.alerts);
        const r = await withinLimits(deps.limiter, principal, set, redeem);
        return {
          object: "redemption" as const,
          code_id: r.code.id,
          amount_micros: r.entry.amount_micros,
          amount_usd: microsToUsd(r.entry.amount_micros),
          replayed: r.replayed,
          ledger_entry: r.entry,
        };
      },
      {
        ownerKey: true,
        body: RedeemBody,
        response: Redemption,
        detail: {
          summary: "Redeem a single-use credit code for the calling key's account (idempotent per account)",
          description: `${OWNER_ONLY_NOTE} A request of the key's and account's rate limits (429 \`rate_limit_exceeded\` past them); 20 codes that did not redeem in an hour are a 429 \`too_many_code_attempts\`.`,
          responses: { 429: { description: "Past the key's rate limits, or too many codes that did not redeem (the OpenAI error envelope)" } },
          tags: ["customer"],
        },
      },
    );
