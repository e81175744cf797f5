import type { Deployment } from "../config/load";
import { ApiError, errors } from "../lib/errors";
import { admit, type Admitted } from "./admission";
import { STRIPPED_FIELDS, type ChatRequestT } from "./chat-request";
import type { GatewayDeps } from "./deps";
import { chargePrompt, clientGone, shuttingDown } from "./endings";
import { finishWhole } from "./finish-whole";
import type { Principal } from "./key-auth";
import type { ProviderAdapter } from "./providers/adapters";
import { relayStream } from "./stream";
import { callUpstream, ClientClosed, type UpstreamResponse } from "./upstream/call";

export interface ChatCall {
  principal: Principal;
  body: ChatRequestT;
  /** The client's request: its signal aborts the upstream call when the client goes away. */
  signal: AbortSignal;
  requestId: string;
  /** Runs once the request holds credit. */
  onAdmitted?: () => void;
  /** Set once admitted: from then on the meter writes the request's log line. */
  admitted?: boolean;
}

/**
 * One chat completion, top to bottom: admit (limits, hold) → call the upstream (retries,
 * failover, breakers) → relay the stream or finish the whole answer, which settles the hold with
 * the real usage (or releases it on failure). Money never moves inside a network wait.
 */
export async function proxyChat(deps: GatewayDeps, call: ChatCall): Promise<Response> {
  const started = performance.now();
  const stream = call.body.stream === true;
  const a = admit(deps, { principal: call.principal, body: call.body, requestId: call.requestId, stream });
  call.admitted = true;
  call.onAdmitted?.();
  const up = await reachUpstream(deps, call, a, started, stream);
  if (up instanceof Response) return up;
  if (stream && (up.response.headers.get("content-type") ?? "").includes("text/event-stream")) {
    return relayStream(deps, a, up, { signal: call.signal, wantsUsage: call.body.stream_options?.include_usage === true });
  }
  return finishWhole(a, up, call.signal);
}

/** The body sent to one deployment: its model id, no routing fields, usage always asked for. */
function upstreamBody(body: ChatRequestT, a: Admitted, d: Deployment, adapter: ProviderAdapter, stream: boolean): string {
  const b: Record<string, unknown> = { ...body, model: d.upstream_model };
  for (const f of STRIPPED_FIELDS) delete b[f];
  if (a.plan.cappedMaxTokens !== null) b[adapter.maxTokensField] = a.plan.cappedMaxTokens;
  // Always ask for usage: without it a stream would be billed as an estimate.
  if (stream) b.stream_options = { ...body.stream_options, include_usage: true };
  return JSON.stringify(b);
}

/**
 * Calls the upstream until one answers 2xx. On failure before the first byte nothing is charged,
 * except the prompt when the client left during an attempt (the upstream had read it): a 499
 * answer, or the translated error thrown.
 */
async function reachUpstream(deps: GatewayDeps, call: ChatCall, a: Admitted, started: number, stream: boolean): Promise<UpstreamResponse | Response> {
  try {
    return await callUpstream(deps.upstreams.registry, {
      model: a.model,
      stream,
      accountId: call.principal.accountId,
      requestId: call.requestId,
      onAttempt: (upstream) => a.meter.attempt(upstream),
      body: (d, _provider, adapter) => upstreamBody(call.body, a, d, adapter, stream),
      signal: call.signal,
      // At shutdown (after the grace period) a request still waiting for the upstream is ended too.
      onStop: (fn) => a.lease.onTerminate(fn),
      startedAt: started,
    });
  } catch (e) {
    try {
      if (e instanceof ClientClosed && call.signal.aborted) {
        // Gone during an attempt: the upstream has read the prompt. Gone between attempts: no charge.
        if (e.attempting) await chargePrompt(a, "client_closed");
        else await a.meter.release(499, "client_closed");
        return clientGone(a);
      }
      const err = e instanceof ClientClosed ? shuttingDown() : e instanceof ApiError ? e : errors.upstream(502, "The upstream provider failed.", "upstream_error");
      await a.meter.release(err.status, err.code ?? "upstream_error");
      throw err;
    } finally {
      a.lease.release();
    }
  }
}
