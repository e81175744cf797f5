import { answerTooLarge, BodyTooLarge, cappedText } from "../lib/capped-body";
import { parseJsonObject } from "../lib/json-object";
import { errors } from "../lib/errors";
import type { Admitted } from "./admission";
import type { Dialect, GatewayBody, WholeAnswer } from "./dialects/types";
import { clientGone, shuttingDown } from "./endings";
import { estimateTokens } from "./estimate";
import { unreadable } from "./meter";
import type { UpstreamResponse } from "./upstream/call";

type Ended = "timeout" | "shutdown" | "too_large" | null;

/**
 * A non-streaming answer: read it whole within the total timeout (shutdown ends it like a
 * timeout), then charge its usage, or an estimate when it has none. A client that left meanwhile
 * is still charged: the upstream was let finish the answer it bills (see Attempt.onClient).
 */
export async function finishWhole<B extends GatewayBody>(dialect: Dialect<B>, body: B, a: Admitted, up: UpstreamResponse, signal: AbortSignal, maxBytes: number): Promise<Response> {
  let ended: Ended = null;
  const timer = setTimeout(() => {
    ended ??= "timeout";
    up.abort();
  }, Math.max(0, up.deadline - performance.now()));
  a.lease.onTerminate(() => {
    ended ??= "shutdown";
    up.abort();
  });
  let text: string;
  try {
    text = await cappedText(up.response, maxBytes);
  } catch (e) {
    clearTimeout(timer);
    return bodyLost(a, up, e instanceof BodyTooLarge ? "too_large" : ended);
  }
  clearTimeout(timer);
  try {
    // Charged all the same when the client left meanwhile: the answer was made (status 499 in the log).
    const res = await chargeWhole(dialect, body, a, text, up, signal.aborted);
    return signal.aborted ? clientGone(a) : res;
  } finally {
    // The answer (about the upstream's size) is still to be written to the client.
    a.lease.release(text.length);
  }
}

/** The answer's body broke off: shutdown, timeout or a lost connection (nothing delivered, nothing charged). */
async function bodyLost(a: Admitted, up: UpstreamResponse, why: Ended): Promise<Response> {
  // Shutdown says nothing about the upstream; a timeout or a lost connection is its failure.
  up.end(why === "shutdown" ? "cut" : { failure: why === "timeout" ? "upstream_timeout: body" : why === "too_large" ? "upstream_answer_too_large" : "upstream_body_broken" });
  try {
    if (why === "shutdown") {
      await a.meter.release(503, "server_shutting_down");
      throw shuttingDown();
    }
    if (why === "timeout") {
      await a.meter.release(504, "upstream_timeout");
      throw errors.upstream(504, "The upstream provider did not complete the response in time.", "upstream_timeout");
    }
    if (why === "too_large") {
      // Nothing was delivered: nothing is charged, as for a body that broke off.
      await a.meter.release(502, "upstream_answer_too_large");
      throw answerTooLarge();
    }
    await a.meter.release(502, "upstream_body_broken");
    throw errors.upstream(502, "The upstream connection was lost before the response completed.", "upstream_body_broken");
  } finally {
    a.lease.release();
  }
}

/** Charges a whole answer (its usage, or an estimate when it has none) and renders it for the customer. */
async function chargeWhole<B extends GatewayBody>(dialect: Dialect<B>, body: B, a: Admitted, text: string, up: UpstreamResponse, clientLeft: boolean): Promise<Response> {
  const upstreamRequestId = upstreamIdOf(up.response);
  const answer = readAnswer(dialect, body, text, up);
  // Not this API's answer (an error envelope with a 200, say): nothing was delivered, nothing is charged.
  if (!answer) {
    await a.meter.release(502, "upstream_malformed");
    throw unreadable();
  }
  if (answer.deferred) {
    // The hold stays until the result is fetched (GET /v1/chat/deferred-completion/{id}).
    await a.meter.defer(answer.deferred, a.plan.promptEstimate);
    return new Response(JSON.stringify({ request_id: a.headers["x-request-id"] }), { status: 200, headers: { "content-type": "application/json", ...a.headers } });
  }
  const estimated = answer.usage === null;
  // Without usage: the prompt's estimate, the text's, and the server-side calls the answer shows run (the upstream bills them).
  const usage = answer.usage ?? { prompt: a.plan.promptEstimate, cached: 0, completion: estimateTokens(answer.text()), reasoning: 0, tools: answer.toolCalls ?? undefined };
  const status = clientLeft ? 499 : 200;
  const rendered = answer.render(a.meter.price(usage));
  // Built before the charge: one that cannot be built is charged nothing (proxy's abandon).
  const events = dialect.stream(body) ? dialect.wholeAsStream?.(rendered, body) : undefined;
  await a.meter.charge({ status, usage, estimated, upstreamRequestId, errorCode: clientLeft ? "client_closed" : null, stored: answer.stored });
  // The request's own headers object, not a copy: this is its last answer.
  if (events === undefined) a.headers["content-type"] = "application/json";
  else Object.assign(a.headers, STREAM_HEADERS);
  return new Response(events ?? rendered, { status: 200, headers: a.headers });
}

/** A stream the upstream answered whole goes out as the stream the client asked for (Dialect.wholeAsStream). */
const STREAM_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" };

/**
 * The dialect's reading of the answer, and the attempt's verdict: what the gateway cannot read (or
 * a reader chokes on) is the upstream's failure, as malformed stream data is.
 */
function readAnswer<B extends GatewayBody>(dialect: Dialect<B>, body: B, text: string, up: UpstreamResponse): WholeAnswer | null {
  let answer: WholeAnswer | null = null;
  try {
    if (dialect.verbatim) return (answer = verbatim(text));
    const json = parseJsonObject<Record<string, unknown>>(text);
    answer = json && dialect.whole(json, up.adapter, body);
    return answer;
  } finally {
    up.end(answer ? "complete" : { failure: "upstream_malformed" });
  }
}

const NO_USAGE = { prompt: 0, cached: 0, completion: 0, reasoning: 0 };

/** A free API's answer as read, when it looks like a JSON object (what else is the upstream's failure). */
function verbatim(text: string): WholeAnswer | null {
  return /^\s*\{/.test(text) ? { usage: NO_USAGE, text: () => "", render: () => text } : null;
}

export const upstreamIdOf = (res: Response): string | null => res.headers.get("x-request-id") ?? res.headers.get("request-id");
