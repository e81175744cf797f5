import { Elysia } from "elysia";
import { z } from "zod";
import { fetchDeferred, knownDeferred } from "../../gateway/deferred-results";
import { unreadable } from "../../gateway/meter";
import { ApiError } from "../../lib/errors";
import { DEFERRED_POLL_INTERVAL_MS, DeferredPolls, type PollLimits } from "./polls";
import type { RateLimiter } from "../../gateway/limits/limiter";
import type { Principal } from "../../gateway/key-auth";
import type { ModuleDeps } from "../../runtime/module-deps";
import { answers, ChatCompletionObject } from "../apis/model";
import { DEFERRED_ERRORS, errorAnswers } from "../apis/error-answers";

const Params = z.object({ id: z.string().min(1).max(200) });

/**
 * A poll that asks the upstream is one request of the key's and account's rate limits (a request
 * and a concurrency slot, no tokens), with their x-ratelimit-* headers, or their 429: it asks
 * with the key every customer shares.
 */
function pollLimits(limiter: RateLimiter, p: Principal, set: { headers: Record<string, unknown> }): PollLimits {
  return {
    prepare: limiter.prepare && (() => limiter.prepare!(p, 0)),
    admit: () => {
      const admission = limiter.admit(p, 0);
      Object.assign(set.headers, admission.headers);
      return admission;
    },
  };
}

/**
 * GET /v1/chat/deferred-completion/{request_id}: 202 while the upstream works on it, then the
 * completion, charged once when first fetched and kept (in its row and KeptResults: the upstream
 * serves it once) for later polls; only
 * the account that asked may fetch it. A poll the gateway cannot answer itself asks the upstream
 * at most once per DEFERRED_POLL_INTERVAL_MS per id, as a request of the key's rate limits
 * (see DeferredPolls); polls answered from what the gateway remembers are free.
 */
export const deferredModule = (deps: ModuleDeps) => {
  const polls = new DeferredPolls();
  return new Elysia({ prefix: "/v1/chat", tags: ["customer"] }).use(deps.auth).get(
    "/deferred-completion/:id",
    async ({ params, principal, set }) => {
      const row = await deps.deferred.owned(params.id, principal);
      const missing = () => new ApiError(404, `No deferred completion with id '${params.id}'.`, "invalid_request_error", "not_found", "request_id");
      if (!row) throw missing();
      const r = knownDeferred(deps, row) ?? (await polls.poll(row.requestId, () => fetchDeferred(deps, row), pollLimits(deps.limiter, principal, set)));
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
          "The result of a deferred chat completion (202 while pending; charged when first fetched, then kept a day after: the upstream serves it once; 502 when unreadable, its hold released). " +
          `The upstream is asked at most once per ${DEFERRED_POLL_INTERVAL_MS} ms per id, as a request of the key's rate limits (429 past them): ` +
          "polls in between get its last answer, and polls of a result already charged get it from the gateway, free.",
        responses: {
          ...answers(ChatCompletionObject, false),
          202: { description: "Pending: the upstream is still working on it (an empty body); poll again" },
          ...errorAnswers(DEFERRED_ERRORS),
        },
      },
    },
  );
};
