import type { AppDeps } from "../runtime/deps";
import type { Deployment } from "../config/load";
import { ApiError, errors } from "../lib/errors";
import type { Principal } from "./key-auth";
import { findModel } from "./catalogue";
import type { ProviderAdapter } from "./providers/adapters";
import { callUpstream, ClientClosed, type UpstreamResponse } from "./upstream/call";
import { readUsage, usageJson, type RawUsage } from "./providers/usage";
import { estimateTokens } from "./estimate";
import { planHold } from "./hold";
import { Meter } from "./meter";
import { STRIPPED_FIELDS, type ChatRequestT } from "./chat-request";
import { streamResponse } from "./stream";

export interface ChatCall {
  principal: Principal;
  body: ChatRequestT;
  /** The client's request: its signal aborts the upstream call when the client goes away. */
  signal: AbortSignal;
  requestId: string;
}

/** What the key may still spend: the account's available credit, bounded by what its cap leaves. */
function spendable(deps: AppDeps, p: Principal): number {
  const available = deps.credits.balance(p.accountId).available;
  const key = p.spendCapMicros === null ? null : deps.credits.keySpend(p.keyId);
  return key?.cap == null ? available : Math.min(available, key.cap - key.spent - key.held);
}

/**
 * One chat completion: admit (rate limit) → reserve the worst case → call the upstream →
 * settle with the real usage (or release on failure). Money never moves inside a network wait.
 */
export async function proxyChat(deps: AppDeps, call: ChatCall): Promise<Response> {
  const started = performance.now();
  const { principal: p, body, requestId } = call;
  const model = findModel(deps.config, p.models, body.model);
  const stream = body.stream === true;
  const plan = planHold(model, body, spendable(deps, p));

  // The global cap comes first: a full gateway answers 503 without touching limits or credit.
  const lease = deps.upstreams.traffic.enter();
  let admission: ReturnType<AppDeps["limiter"]["admit"]> | undefined;
  try {
    admission = deps.limiter.admit(p, plan.tokenEstimate);
    // The request id was generated for this request (chat/route.ts), never by the client.
    deps.credits.reserve({ accountId: p.accountId, keyId: p.keyId, requestId, amount: plan.hold, freshId: true });
  } catch (e) {
    // Refused before any upstream work: give the request and its tokens back to the limiter.
    admission?.cancel();
    lease.release();
    throw e;
  }
  const meter = new Meter(deps, requestId, p, model, stream, plan.hold, admission);
  const headers = { "x-request-id": requestId, ...admission.headers };

  const upstreamBody = (d: Deployment, adapter: ProviderAdapter): string => {
    const b: Record<string, unknown> = { ...body, model: d.upstream_model };
    for (const f of STRIPPED_FIELDS) delete b[f];
    if (plan.cappedMaxTokens !== null) b[adapter.maxTokensField] = plan.cappedMaxTokens;
    // Always ask for usage: without it a stream would be billed as an estimate.
    if (stream) b.stream_options = { ...body.stream_options, include_usage: true };
    return JSON.stringify(b);
  };

  const clientAborted = () => call.signal.aborted;
  const chargePrompt = (code: string) =>
    meter.charge({ status: 499, usage: { prompt: plan.promptEstimate, cached: 0, completion: 0, reasoning: 0 }, estimated: true, errorCode: code });
  const shuttingDown = () => errors.upstream(503, "The gateway is restarting. Please retry in a moment.", "server_shutting_down", { "retry-after": "1" });

  let up: UpstreamResponse;
  try {
    up = await callUpstream(deps.upstreams.registry, {
      model,
      stream,
      body: (d, _provider, adapter) => upstreamBody(d, adapter),
      signal: call.signal,
      // At shutdown (after the grace period) a request still waiting for the upstream is ended too.
      onStop: (fn) => lease.onTerminate(fn),
      startedAt: started,
    });
  } catch (e) {
    try {
      if (e instanceof ClientClosed && clientAborted()) {
        // Gone during an attempt: the upstream has read the prompt. Gone between attempts: no charge.
        if (e.attempting) await chargePrompt("client_closed");
        else await meter.release(499, "client_closed");
        return new Response(null, { status: 499, headers });
      }
      const err = e instanceof ClientClosed ? shuttingDown() : e instanceof ApiError ? e : errors.upstream(502, "The upstream provider failed.", "upstream_error");
      await meter.release(err.status, err.code ?? "upstream_error");
      throw err;
    } finally {
      lease.release();
    }
  }
  const res = up.response;
  const adapter = up.adapter;
  const upstreamRequestId = res.headers.get("x-request-id") ?? res.headers.get("request-id");

  if (stream && (res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    return streamResponse({
      upstream: res,
      meter,
      abort: () => up.abort(),
      clientAborted,
      clientWantsUsage: body.stream_options?.include_usage === true,
      reasoningIsExtra: adapter.reasoningIsExtra,
      promptEstimate: plan.promptEstimate,
      headers,
      upstreamRequestId,
      deadline: up.deadline,
      gapMs: deps.config.timeouts.stream_gap_ms,
      onTerminate: (end) => lease.onTerminate(end),
      onEnd: (upstreamFailure) => {
        up.end(upstreamFailure);
        lease.release();
      },
    });
  }

  // A non-streaming body is read within the total timeout; shutdown ends it like a timeout.
  let ended: "timeout" | "shutdown" | null = null;
  const timer = setTimeout(() => {
    ended ??= "timeout";
    up.abort();
  }, Math.max(0, up.deadline - performance.now()));
  lease.onTerminate(() => {
    ended ??= "shutdown";
    up.abort();
  });
  let text: string;
  try {
    text = await res.text();
  } catch {
    clearTimeout(timer);
    const why = ended as "timeout" | "shutdown" | null;
    up.end(clientAborted() || why === "shutdown" ? null : (why ?? "upstream_body_broken"));
    try {
      if (clientAborted()) {
        await chargePrompt("client_closed");
        return new Response(null, { status: 499, headers });
      }
      if (why === "shutdown") {
        await meter.release(503, "server_shutting_down");
        throw shuttingDown();
      }
      if (why === "timeout") {
        await meter.release(504, "upstream_timeout");
        throw errors.upstream(504, "The upstream provider did not complete the response in time.", "upstream_timeout");
      }
      await meter.release(502, "upstream_body_broken");
      throw errors.upstream(502, "The upstream connection was lost before the response completed.", "upstream_body_broken");
    } finally {
      lease.release();
    }
  }
  clearTimeout(timer);
  up.end(null);
  try {
    return await finishJson(meter, text, adapter, plan.promptEstimate, upstreamRequestId, headers);
  } finally {
    lease.release();
  }
}

/** Charges a whole (non-streaming) answer: its usage, or an estimate when it has none. */
async function finishJson(
  meter: Meter,
  text: string,
  adapter: ProviderAdapter,
  promptEstimate: number,
  upstreamRequestId: string | null,
  headers: Record<string, string>,
): Promise<Response> {
  let json: { usage?: RawUsage; choices?: { message?: { content?: unknown } }[] };
  try {
    json = JSON.parse(text);
    if (!json || typeof json !== "object") throw new Error("not an object");
  } catch {
    await meter.release(502, "upstream_malformed");
    throw errors.upstream(502, "The upstream sent a malformed response.", "upstream_malformed");
  }
  if (json.usage && typeof json.usage === "object") {
    const usage = readUsage(json.usage, adapter.reasoningIsExtra);
    json.usage = usageJson(json.usage, usage);
    await meter.charge({ status: 200, usage, estimated: false, upstreamRequestId });
  } else {
    const out = (json.choices ?? []).map((c) => (typeof c.message?.content === "string" ? c.message.content : "")).join("");
    const usage = { prompt: promptEstimate, cached: 0, completion: estimateTokens(out), reasoning: 0 };
    await meter.charge({ status: 200, usage, estimated: true, upstreamRequestId });
  }
  return new Response(JSON.stringify(json), { status: 200, headers: { "content-type": "application/json", ...headers } });
}
