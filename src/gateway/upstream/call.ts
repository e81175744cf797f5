import type { Deployment, Model, Provider } from "../../config/load";
import { ApiError, errors } from "../../lib/errors";
import type { ProviderAdapter } from "../providers/adapters";
import { Attempt } from "./attempt";
import type { Candidate, Target, UpstreamRegistry } from "./registry";
import { backoffMs } from "./retry";

export interface UpstreamCall {
  model: Model;
  stream: boolean;
  /** The JSON body for one deployment (its upstream model id, its adapter's quirks). */
  body(deployment: Deployment, provider: Provider, adapter: ProviderAdapter): string;
  /** The client's signal: its abort stops the attempts and the upstream request. */
  signal: AbortSignal;
  /**
   * Sets what ending this request at once (gateway shutdown) must do right now; each call
   * replaces the previous one (Lease.onTerminate). Ending then looks like the client leaving,
   * without the client's signal: the caller tells the two apart. Cheaper than merging signals.
   */
  onStop?: (fn: () => void) => void;
  /** performance.now() when the request arrived (the budgets count from there). */
  startedAt?: number;
}

/** The upstream answered 2xx: its body is still to be read. */
export interface UpstreamResponse {
  response: Response;
  candidate: Candidate;
  adapter: ProviderAdapter;
  /** performance.now() by which the whole request must be over (timeouts.total_ms). */
  deadline: number;
  attempts: number;
  /** Aborts the upstream request (body included). */
  abort(): void;
  /** The body has ended; with a reason when the upstream broke it (counts for the breaker). */
  end(upstreamFailure?: string | null): void;
}

/** The client went away before the upstream answered. */
export class ClientClosed extends Error {
  /** `attempting`: an upstream attempt was under way (the upstream may have read the prompt). */
  constructor(readonly attempting: boolean) {
    super("client closed the request");
  }
}

export type Action = "retry" | "next_key" | "next_deployment" | "fatal" | "stop";

export interface Failure {
  action: Action;
  breaker: boolean;
  error: ApiError;
  retryAfterMs: number | null;
}

export type AttemptResult = { ok: true; value: UpstreamResponse } | { ok: false; failure: Failure } | { ok: false; client: true };

const sleep = (ms: number, signal: AbortSignal, onStop: (fn: () => void) => void) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    onStop(done);
  });

/**
 * Calls the model's upstream until one answers 2xx: deployments by priority, keys in rotation,
 * open circuit breakers skipped. Connection errors, timeouts, 429 and 5xx are retried (another
 * key or deployment first, the same one after a backoff with jitter, honouring retry-after)
 * within `retry.max_attempts` and `retry.budget_ms`. Nothing has been sent to the client yet,
 * and no attempt is ever charged. Throws the translated ApiError of the last failure, a 503
 * with retry-after when every breaker is open, or ClientClosed.
 */
export async function callUpstream(reg: UpstreamRegistry, call: UpstreamCall): Promise<UpstreamResponse> {
  const { timeouts, retry } = reg.config;
  const started = call.startedAt ?? performance.now();
  const deadline = started + timeouts.total_ms;
  const budgetEnd = started + retry.budget_ms;
  const list = reg.candidates(call.model);
  const refusedKeys = new Set<Target>();
  const missingDeployments = new Set<Deployment>();
  let last = null as { failure: Failure; target: Target } | null;
  let pos = 0;
  let attempts = 0;
  let stopped = false;
  const onStop = (fn: () => void) =>
    call.onStop?.(() => {
      stopped = true;
      fn();
    });

  const usable = (c: Candidate) => !refusedKeys.has(c.target) && !missingDeployments.has(c.deployment) && c.target.breaker.allows();
  /** The next usable candidate after the last one tried, wrapping around to retry earlier ones. */
  const next = (): Candidate | null => {
    for (let i = 0; i < list.length; i++) {
      const c = list[(pos + i) % list.length]!;
      if (usable(c)) {
        pos = (pos + i + 1) % list.length;
        return c;
      }
    }
    return null;
  };
  while (attempts < retry.max_attempts) {
    const pick = next();
    if (!pick) break;
    if (attempts > 0) {
      let wait = backoffMs(attempts, retry.base_ms);
      // retry-after speaks about the key that sent it; another key or deployment need not wait.
      if (last?.target === pick.target && last.failure.retryAfterMs !== null) wait = Math.max(wait, last.failure.retryAfterMs);
      if (performance.now() + wait > Math.min(budgetEnd, deadline)) break;
      await sleep(wait, call.signal, onStop);
      if (call.signal.aborted || stopped) throw new ClientClosed(false);
    }
    const permit = pick.target.breaker.acquire();
    if (!permit) continue;
    attempts++;
    const r = await new Attempt(reg, call, pick, permit, deadline, attempts, onStop).run();
    if (r.ok) return r.value;
    if ("client" in r) throw new ClientClosed(true);
    const { failure } = r;
    last = { failure, target: pick.target };
    if (failure.action === "fatal" || failure.action === "stop") throw failure.error;
    if (failure.action === "next_key") refusedKeys.add(pick.target);
    if (failure.action === "next_deployment") missingDeployments.add(pick.deployment);
  }
  if (last) throw last.failure.error;
  throw allOpen(reg, list);
}

/** 503 when no candidate may be tried: every breaker is open (retry-after: the first probe). */
function allOpen(reg: UpstreamRegistry, list: Candidate[]): ApiError {
  if (list.length === 0) return errors.upstream(502, "No upstream is configured for this model.", "upstream_unconfigured");
  const now = reg.now();
  const next = Math.min(...list.map((c) => c.target.breaker.retryAt ?? now));
  const secs = Math.max(1, Math.ceil((next - now) / 1000));
  return errors.upstream(
    503,
    "Every upstream deployment of this model is temporarily unavailable. Please retry shortly.",
    "upstream_unavailable",
    { "retry-after": String(secs) },
  );
}
