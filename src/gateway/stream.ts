import type { Admitted } from "./admission";
import type { GatewayDeps } from "./deps";
import type { Dialect, EventTap, GatewayBody } from "./dialects/types";
import { upstreamIdOf } from "./finish-whole";
import type { Meter } from "./meter";
import { StreamRelay } from "./stream-relay";
import type { UpstreamResponse } from "./upstream/call";

/** A stream of any API: the upstream's SSE relayed through the dialect's tap, which meters it. */
export function relayStream<B extends GatewayBody>(
  deps: GatewayDeps,
  dialect: Dialect<B>,
  a: Admitted,
  up: UpstreamResponse,
  client: { signal: AbortSignal; wantsUsage: boolean },
): Response {
  const tap = dialect.tap({ adapter: up.adapter, clientWantsUsage: client.wantsUsage, price: (u) => a.meter.price(u) });
  const upstreamRequestId = upstreamIdOf(up.response);
  return new StreamRelay({
    upstream: up.response,
    tap,
    // What the charge could not take (absurd usage) is voided; the relay then ends with an error event.
    finish: (status, code, anyway) =>
      finishTap(tap, a.meter, a.plan.promptEstimate, upstreamRequestId, status, code, anyway).catch(async (e) => {
        throw await a.meter.abandon(e);
      }),
    errorEvent: dialect.errorEvent,
    abort: () => up.abort(),
    clientAborted: () => client.signal.aborted,
    client: client.signal,
    headers: a.headers,
    deadline: up.deadline,
    gapMs: deps.config.timeouts.stream_gap_ms,
    onTerminate: (end) => a.lease.onTerminate(end),
    onEnd: (how) => {
      up.end(how);
      a.lease.release();
    },
  }).response();
}

/**
 * Charges real usage when it arrived (and is believable: what was delivered is never free), else
 * prompt + what was delivered + the server-side tool calls seen done (estimated), else releases.
 */
function finishTap(tap: EventTap, meter: Meter, promptEstimate: number, upstreamRequestId: string | null, status: number, errorCode: string | null, anyway: boolean): Promise<unknown> {
  const { ttftMs, stored } = tap;
  // Calls the upstream ran are billed to the operator whether or not its usage comes (the usage counts them when it does).
  const tools = tap.toolCalls ?? undefined;
  const estimate = (input = tap.inputUsage) => {
    const usage = { prompt: input?.prompt ?? promptEstimate, cached: input?.cached ?? 0, completion: tap.deliveredTokens, reasoning: 0, tools };
    return { status, usage, estimated: true, errorCode, ttftMs, upstreamRequestId, stored };
  };
  // Usage the charge cannot take falls back to the estimate, and one whose input it cannot take to the prompt's.
  if (tap.usage) return meter.charge({ status, usage: tap.usage, estimated: false, errorCode, ttftMs, upstreamRequestId, stored }, () => estimate(null));
  if (tap.deliveredTokens === 0 && !tools && !anyway) return meter.release(status, errorCode);
  return meter.charge(estimate(), () => estimate(null));
}
