import { Elysia } from "elysia";
import { z } from "zod";
import type { ModuleDeps } from "../../runtime/module-deps";
import { getAccountRow } from "../accounts/service";
import { IdParams } from "../accounts/model";
import { CreditBody, LedgerEntryView, LedgerList, LedgerQuery } from "./model";
import { ledgerView, listLedger } from "../../money/ledger";
import { postWatchedCredit } from "../alerts/credits";

const IdempotencyHeaders = z.looseObject({
  "idempotency-key": z.string().min(1).max(255).optional().describe("Replays the first result for the same key and body."),
});

export const ledgerModule = (deps: ModuleDeps) =>
  new Elysia({ prefix: "/admin/accounts", tags: ["admin"] })
    .use(deps.auth)
    .post(
      "/:id/credits",
      async ({ params, body, headers, actor, status, set }) => {
        await getAccountRow(deps.store, params.id);
        // A credit may re-arm the low-balance alert: decided in its transaction.
        const { entry, replayed } = await postWatchedCredit(deps.store, deps.alerts, {
          accountId: params.id,
          amountMicros: body.amount_micros,
          note: body.note,
          actor,
          heldMicros: () => deps.credits.unavailable(params.id),
          idempotencyKey: headers["idempotency-key"],
        }, deps.now());
        if (replayed) set.headers["idempotent-replayed"] = "true";
        // An adjustment takes credit as a charge does, so it may cross the low-balance threshold too.
        else if (body.amount_micros < 0) deps.alerts?.schedule(params.id);
        return status(201, entry);
      },
      {
        admin: true,
        params: IdParams,
        headers: IdempotencyHeaders,
        body: CreditBody,
        response: { 201: LedgerEntryView },
        detail: { summary: "Add credits (positive) or post an adjustment (negative); honours Idempotency-Key" },
      },
    )
    .get(
      "/:id/ledger",
      async ({ params, query }) => {
        await getAccountRow(deps.store, params.id);
        const rows = await listLedger(deps.store, params.id, { limit: query.limit + 1, before: query.before });
        return { object: "list" as const, has_more: rows.length > query.limit, data: rows.slice(0, query.limit).map(ledgerView) };
      },
      { admin: true, params: IdParams, query: LedgerQuery, response: LedgerList, detail: { summary: "Ledger entries, newest first (paged with `before`)" } },
    );
