import { Elysia } from "elysia";
import { z } from "zod";
import { fetchDeferred } from "../../gateway/deferred-results";
import { unreadable } from "../../gateway/meter";
import { ApiError } from "../../lib/errors";
import { DEFERRED_POLL_INTERVAL_MS, DeferredPolls } from "./polls";
import type { ModuleDeps } from "../../runtime/module-deps";
import { answers, ChatCompletionObject } from "../apis/model";

const Params = z.object({ id: z.string().min(1).max(200) });

/**
 * GET /v1/chat/deferred-completion/{request_id}: 202 while the upstream works on it, then the
 * completion, charged once when first fetched; only the account that asked may fetch it. The
 * upstream is asked at most once per DEFERRED_POLL_INTERVAL_MS per id (see DeferredPolls).
 */
export const deferredModule = (deps: ModuleDeps) => {
  const polls = new DeferredPolls();
  return new Elysia({ prefix: "/v1/chat", tags: ["customer"] }).use(deps.auth).get(
    "/deferred-completion/:id",
    async ({ params, principal, set }) => {
      const row = await deps.deferred.owned(params.id, principal);
      const missing = () => new ApiError(404, `No deferred completion with id '${params.id}'.`, "invalid_request_error", "not_found", "request_id");
      if (!row) throw missing();
      const r = await polls.poll(row.requestId, () => fetchDeferred(deps, row));
      if (r.status === 404) throw missing();
      if (r.status === 502) throw unreadable();
      if (r.status === 202) {
        set.status = 202;
        return "";
      }
      return new Response(r.body, { headers: { "content-type": "application/json", ...(set.headers as Record<string, string>) } });
    },
    {
      customer: true,
      params: Params,
      detail: {
        summary:
          "The result of a deferred chat completion (202 while pending; charged when first fetched; 502 when unreadable, its hold released). " +
          `The upstream is asked at most once per ${DEFERRED_POLL_INTERVAL_MS} ms per id: polls in between get its last answer.`,
        responses: answers(ChatCompletionObject, false),
      },
    },
  );
};
