import { ApiError, errors } from "../lib/errors";
import { admit, prepareAdmit, sharedBooks, type Admitted } from "./admission";
import type { GatewayDeps } from "./deps";
import type { Dialect, GatewayBody, Prepared } from "./dialects/types";
import { chargePrompt, clientGone, shuttingDown } from "./endings";
import { finishWhole } from "./finish-whole";
import type { Principal } from "./key-auth";
import { relayStream } from "./stream";
import { goneWatch } from "./stored-gone";
import { callUpstream, ClientClosed, type UpstreamResponse } from "./upstream/call";
import { positionalRef } from "./upstream/registry";

export interface ProxyCall<B extends GatewayBody = GatewayBody> {
  dialect: Dialect<B>;
  principal: Principal;
  body: B;
  /** The client's request: its signal aborts the upstream call when the client goes away. */
  signal: AbortSignal;
  requestId: string;
  /** Client headers the dialect forwards upstream. */
  headers?: Record<string, string>;
  /** What the dialect's prepare() found (an upstream key to pin, history to hold for). */
  prepared?: Prepared;
  /** The client asked for usage in a stream (chat's stream_options.include_usage). */
  wantsUsage?: boolean;
  /** Runs once the request holds credit. */
  onAdmitted?: () => void;
  /** Runs once an admitted request's stream is done, or its whole answer ready to write (`unsent` bytes). */
  onFinished?: (unsent: number) => void;
  /** Set once admitted: from then on the meter writes the request's log line. */
  admitted?: boolean;
}

/**
 * One metered request of any API, top to bottom: admit (limits, hold) → call the upstream
 * (retries, failover, breakers) → relay the stream or finish the whole answer, which settles
 * the hold with the real usage (or releases it on failure). Money never moves inside a network
 * wait. The dialect supplies only the API's own parts (schema, hold estimate, usage reader,
 * error shape).
 */
export async function proxy<B extends GatewayBody>(deps: GatewayDeps, call: ProxyCall<B>): Promise<Response> {
  const started = performance.now();
  const stream = call.dialect.stream(call.body);
  const req = { dialect: call.dialect, principal: call.principal, body: call.body, requestId: call.requestId, stream, prepared: call.prepared };
  const unpend = sharedBooks(deps) ? await prepareAdmit(deps, req) : undefined;
  const a = admit(deps, req, unpend);
  call.admitted = true;
  if (call.onFinished) a.lease.onRelease(call.onFinished);
  try {
    call.onAdmitted?.();
    const up = await reachUpstream(deps, call, a, started, stream);
    if (up instanceof Response) return up;
    if (stream && (up.response.headers.get("content-type") ?? "").includes("text/event-stream")) {
      return relayStream(deps, call.dialect, a, up, { signal: call.signal, wantsUsage: call.wantsUsage === true });
    }
    return await finishWhole(call.dialect, call.body, a, up, call.signal, deps.config.max_answer_bytes);
  } catch (e) {
    // The one place for what no ending foresaw (an answer a reader choked on, absurd usage): a
    // live hold is never swept, so it is voided here, with the slot and the lease, exactly once.
    a.lease.release();
    throw await a.meter.abandon(e);
  }
}

/**
 * Calls the upstream until one answers 2xx. On failure before the first byte nothing is charged,
 * except the prompt when a stream's client left during an attempt (the upstream had read it):
 * a 499 answer, or the translated error thrown.
 */
async function reachUpstream<B extends GatewayBody>(deps: GatewayDeps, call: ProxyCall<B>, a: Admitted, started: number, stream: boolean): Promise<UpstreamResponse | Response> {
  const gone = goneWatch(call.dialect, call.body);
  try {
    return await callUpstream(deps.upstreams.registry, {
      model: a.model,
      stream,
      path: call.dialect.path,
      headers: call.headers,
      pin: call.prepared?.pin,
      accountId: call.principal.accountId,
      requestId: call.requestId,
      onAttempt: (upstream, keyRef) => a.meter.attempt(upstream, keyRef),
      body: (deployment, _provider, adapter) => call.dialect.upstreamBody(call.body, { deployment, adapter, plan: a.plan, stream }),
      signal: call.signal,
      // At shutdown (after the grace period) a request still waiting for the upstream is ended too.
      onStop: (fn) => a.lease.onTerminate(fn),
      startedAt: started,
      notFound: gone?.notFound,
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
      // A positional pin may name another key than the one holding the object: its 404 proves nothing.
      if (!positionalRef(call.prepared?.pin ?? "")) await gone?.drop(deps.objects, err);
      throw err;
    } finally {
      a.lease.release();
    }
  }
}
