import type { UsageRecord } from "../money/credit-store";
import { chargeFor, namedCalls } from "../money/pricing";
import type { Usage } from "../money/usage";
import type { GatewayDeps } from "./deps";
import { parkedPrices, type DeferredResult, type DeferredRow } from "./deferred";
import { chatDialect } from "./dialects/chat";
import { adapters } from "./providers/adapters";
import type { WholeAnswer } from "./dialects/types";
import { estimateTokens } from "./estimate";
import { plausible } from "./meter";
import { callTarget } from "./upstream/direct";
import { positionalRef } from "./upstream/registry";
import { parseJsonObject } from "../lib/json-object";
import { saysGone, saysNotFound } from "./providers/errors";
import { duePolls, SLACK_MS } from "./deferred-poll";
import { answerTooLarge, BodyTooLarge, cappedText } from "../lib/capped-body";
import { logDeferred, usageRecord } from "./deferred-record";

export { pollInterval } from "./deferred-poll";

export type { DeferredResult } from "./deferred";

/** Settled without a charge: the upstream forgot it, or its result could not be read (a 404 from then on). */
const released = (row: DeferredRow): boolean => row.settledAt !== null && row.chargeMicros === null;

/**
 * What the gateway can answer for a deferred request without asking the upstream: 404 once
 * released (forgotten, or unreadable), the result once charged (kept in memory, or in its row);
 * null when only a fetch can say.
 */
export function knownDeferred(deps: GatewayDeps, row: DeferredRow): DeferredResult | null {
  if (released(row)) return { status: 404 };
  // Looked up whatever the row says: the row may have been read before its charge.
  const body = deps.deferred.results.get(row.requestId);
  if (body !== undefined) return { status: 200, body };
  // Charged with its result in the row (by another instance, before a restart): free as well.
  if (row.settledAt === null || row.result === null) return null;
  const result = readResult(deps, row, row.result);
  if (!result) return null;
  const shown = result.answer.render(row.chargeMicros ?? 0);
  deps.deferred.results.keep(row.requestId, shown);
  return { status: 200, body: shown };
}

/**
 * A deferred completion's result: what the gateway knows (knownDeferred), else the result as
 * fetched once (the upstream serves it once, then forgets it): kept in the request's row before
 * it is charged, so that a restart, another instance or a later poll still has it. Asked of the
 * upstream key that holds it by one fetch at a time (in this process and across instances: the
 * others answer 202 meanwhile): 202 while pending; when ready, charged once (from its usage) and
 * shown with the customer's charge as its cost; when the upstream has forgotten it, the hold is
 * released and the answer is 404. A result that cannot be read or priced will not mend: its hold
 * is released and the answer is 502.
 */
export function fetchDeferred(deps: GatewayDeps, row: DeferredRow): Promise<DeferredResult> {
  const known = knownDeferred(deps, row);
  if (known) return Promise.resolve(known);
  return deps.deferred.fetches.run(row.requestId, () => fetchOnce(deps, row.requestId));
}

async function fetchOnce(deps: GatewayDeps, requestId: string): Promise<DeferredResult> {
  // Read again: another fetch (here, elsewhere, before a restart) may have settled it or kept its result.
  const row = await deps.deferred.get(requestId);
  if (!row || released(row)) return { status: 404 };
  let text = row.result;
  if (text === null) {
    // Charged, and its result no longer kept (a day after): the upstream has nothing either.
    if (row.settledAt !== null) return { status: 404 };
    if (tooLarge(row)) throw answerTooLarge();
    const asked = await askUpstream(deps, row);
    if (typeof asked !== "string") return asked;
    text = asked;
  }
  const result = readResult(deps, row, text);
  if (result === null) {
    await releaseDeferred(deps, row, UNREADABLE);
    return { status: 502 };
  }
  const charge = row.settledAt !== null ? (row.chargeMicros ?? 0) : await deps.deferred.once(row.requestId, () => chargeDeferred(deps, row, result));
  const body = result.answer.render(charge);
  deps.deferred.results.keep(row.requestId, body);
  return { status: 200, body };
}

/**
 * Whether an upstream 404 says it forgot the deferred request `upstreamId`: only the upstream's own
 * error envelope says so, naming the id (not in an echoed request path), or saying not found (xAI's
 * `{code, error}` for an expired id). Any other 404 (a missing route's page, one echoing the path
 * asked, an ingress's page during a redeploy) is a failed fetch: the hold stays, and a later fetch
 * or the poller asks again (the day's end releases it).
 */
const forgotten = (upstreamId: string) => (text: string): boolean => saysGone(text, upstreamId) || saysNotFound(text);

/**
 * Asks the upstream for the result under this fetch's claim: its text, kept in the row before
 * anything else; 202 (pending, or another instance is asking now) or 404 (forgotten: released).
 * A failure throws (the next fetch or the poller asks again), a 404 that is no answer about the
 * request included.
 */
async function askUpstream(deps: GatewayDeps, row: DeferredRow): Promise<string | { status: 202 | 404 }> {
  if (!(await deps.deferred.claim(row.requestId, deps.now()))) return fetchedElsewhere(deps, row.requestId);
  let kept = false;
  try {
    const res = await callTarget(deps.upstreams.registry, row.target, "GET", `/chat/deferred-completion/${encodeURIComponent(row.upstreamId)}`, row.requestId, forgotten(row.upstreamId));
    if (res.status === 202 || res.status === 404) {
      await res.body?.cancel();
      // Only the key that parked it can say it forgot it: a positional reference may name another key now.
      if (res.status === 404 && !positionalRef(row.target)) await releaseDeferred(deps, row, EXPIRED);
      return { status: res.status };
    }
    // A read cut short throws from here: the upstream may not serve it again (then a 404 releases it).
    const text = await cappedText(res, deps.config.max_answer_bytes).catch((e) => (e instanceof BodyTooLarge ? null : Promise.reject(e)));
    if (text === null) {
      // The claim is kept (marking it so), and nothing is released.
      await deps.deferred.holdClaim(row.requestId, dayEnd(row));
      kept = true;
      deps.log.event("deferred_answer_too_large", { request_id: row.requestId, max_answer_bytes: deps.config.max_answer_bytes }, "warn");
      throw answerTooLarge();
    }
    await deps.deferred.fetched(row.requestId, text);
    kept = true;
    return text;
  } finally {
    if (!kept) await deps.deferred.unclaim(row.requestId).catch(() => {});
  }
}

/**
 * A result larger than max_answer_bytes is not asked for again: the upstream made it (and billed
 * the operator), so its hold is neither charged nor released but kept, its claim held to the end
 * of the upstream's day, when it is released as one nobody fetched (settleDeferred).
 */
const dayEnd = (row: DeferredRow): number => row.createdAt + RESULT_KEPT_MS + SLACK_MS;
const tooLarge = (row: DeferredRow): boolean => row.fetchingUntil === dayEnd(row);

/**
 * Another instance is asking the upstream: its answer, once it keeps it in the row (for a little
 * while: then 202, and the client polls again as for a pending result).
 */
async function fetchedElsewhere(deps: GatewayDeps, requestId: string): Promise<string | { status: 202 | 404 }> {
  for (let waited = 0; waited < ELSEWHERE_WAIT_MS; waited += ELSEWHERE_STEP_MS) {
    await Bun.sleep(ELSEWHERE_STEP_MS);
    const row = await deps.deferred.get(requestId);
    if (!row || released(row)) return { status: 404 };
    if (row.result !== null) return row.result;
    if (tooLarge(row)) throw answerTooLarge();
    if (row.fetchingUntil === null || row.fetchingUntil < deps.now()) break;
  }
  return { status: 202 };
}

const ELSEWHERE_WAIT_MS = 2_000;
const ELSEWHERE_STEP_MS = 50;

interface Result {
  answer: WholeAnswer;
  cost: number;
  record: UsageRecord;
}

/** The result and its charge: its usage (or an estimate) at the model's prices; null when it cannot be read or priced. */
function readResult(deps: GatewayDeps, row: DeferredRow, text: string): Result | null {
  try {
    const json = parseJsonObject<Record<string, unknown>>(text);
    // The upstream names the result by its own id, which stays with the gateway: the customer's is the request's.
    if (json && json.id === row.upstreamId) json.id = row.requestId;
    const target = deps.upstreams.registry.resolve(row.target);
    const answer = json && chatDialect.whole(json, adapters[target?.provider.kind ?? "xai"], {} as never);
    if (!answer) throw new Error("not a chat completion");
    const prices = parkedPrices(row, deps.config.models);
    // Without usage (or with one that is no count, or has no prompt count), an estimate as for any
    // whole answer; a row parked before estimates were kept holds its hold.
    const read = answer.usage ?? (row.promptEstimate === null ? null : { prompt: row.promptEstimate, cached: 0, completion: estimateTokens(answer.text()), reasoning: 0 });
    // The request's tools are not kept with it: calls the upstream does not name are priced as the model's dearest.
    const usage = read && prices ? namedCalls(read, prices, []) : read;
    // One charged already is shown with its charge: nothing is priced again.
    if (usage && !prices && row.settledAt === null) throw new Error("no prices: the model is gone, and the request was parked before its prices were kept");
    const cost = usage && prices ? chargeFor(usage, prices) : row.holdMicros;
    const record = usageRecord(deps, row, usage ?? NO_USAGE, cost, 200, null, answer.usage === null);
    if (!plausible(usage ?? NO_USAGE, record)) throw new Error("implausible usage");
    return { answer, cost, record };
  } catch (e) {
    deps.log.event("answer_unreadable", { request_id: row.requestId, error: String((e as Error)?.message ?? e).slice(0, 200) }, "warn");
    return null;
  }
}

/** Charges a ready result once. */
async function chargeDeferred(deps: GatewayDeps, row: DeferredRow, { cost, record }: Result): Promise<number> {
  const owners = { accountId: row.accountId, keyId: row.keyId, capKeyId: row.capKeyId, memberId: row.memberId };
  const result = await deps.credits.settle(row.requestId, cost, { note: row.model, usage: record, owners });
  // No hold here: a settlement elsewhere took it, and its record stands (a row marked 0 would hide the charge).
  if (result === null) return recordedCharge(deps, row.requestId, cost);
  // Charged nothing when the id was charged already (another instance, before a restart): that
  // charge was this usage at these prices, so the row gets it, and that charge's own log line stands.
  if ((await deps.deferred.settled(row.requestId, cost, deps.now())) && result.charged === cost) logDeferred(deps, record);
  deps.deferred.usedTokens(row.requestId, record.promptTokens + record.completionTokens);
  return cost;
}

/** The charge another settlement recorded; until its row says, this usage's cost (the same prices). */
async function recordedCharge(deps: GatewayDeps, requestId: string, cost: number): Promise<number> {
  const row = await deps.deferred.get(requestId);
  return row && row.settledAt !== null ? (row.chargeMicros ?? 0) : cost;
}

const NO_USAGE: Usage = { prompt: 0, cached: 0, completion: 0, reasoning: 0 };
const EXPIRED = { status: 404, code: "deferred_expired" } as const;
const UNREADABLE = { status: 502, code: "upstream_malformed" } as const;

async function expire(deps: GatewayDeps, row: DeferredRow): Promise<DeferredResult> {
  await releaseDeferred(deps, row, EXPIRED);
  return { status: 404 };
}

/** The upstream forgot the request (or sent a result that cannot be read): the hold goes back, nothing is charged. */
export async function releaseDeferred(deps: GatewayDeps, row: DeferredRow, why: { status: number; code: string }): Promise<void> {
  if (row.settledAt !== null) return;
  await deps.deferred.once(row.requestId, async () => {
    const record = usageRecord(deps, row, NO_USAGE, 0, why.status, why.code, false);
    await deps.credits.release(row.requestId, { usage: record });
    deps.deferred.usedTokens(row.requestId, 0);
    // Marked even without a hold here: on a shared store the instance that parked it lets go once it sees this.
    if (await deps.deferred.settled(row.requestId, null, deps.now())) logDeferred(deps, record);
    return 0;
  });
}

/** How long a result is kept after its settlement, and served by the upstream after its creation (a day). */
const RESULT_KEPT_MS = 24 * 3_600_000;

/** Results the poller asks the upstream for in one run (the shared key's rate limit is everyone's); the rest wait for the next. */
const MAX_POLLS_PER_RUN = 200;

/**
 * Settles what customers never fetched: each pending request older than `minAgeMs` is asked for
 * once its interval since the last ask has passed (charged when ready, released when forgotten),
 * at most MAX_POLLS_PER_RUN, shared out between accounts (duePolls). Runs from a timer; never throws.
 */
export async function settleDeferred(deps: GatewayDeps, minAgeMs = 60_000): Promise<number> {
  const now = deps.now();
  await deps.deferred.forgetResults(now - RESULT_KEPT_MS);
  const polled = deps.deferred.polled;
  let done = 0;
  for (const row of await duePolls(deps.deferred, now, minAgeMs, MAX_POLLS_PER_RUN)) {
    polled.set(row.requestId, now);
    try {
      // Past the upstream's day nothing can be fetched (its key may even be gone): the hold goes back.
      const r = row.result === null && now - row.createdAt > RESULT_KEPT_MS + SLACK_MS ? await expire(deps, row) : await fetchDeferred(deps, row);
      if (r.status !== 202) done++;
    } catch (e) {
      deps.log.event("deferred_poll_failed", { request_id: row.requestId, error: String((e as Error)?.message ?? e).slice(0, 200) }, "warn");
    }
  }
  return done;
}
