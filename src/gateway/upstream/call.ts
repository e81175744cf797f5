import type { Deployment, Model, Provider } from "../../config/load";
import { ApiError, errors } from "../../lib/errors";
import { adapters, upstreamHeaders, type ProviderAdapter } from "../providers/adapters";
import { translateUpstreamError } from "../providers/errors";
import type { Permit } from "./breaker";
import { hostPort, tcpCheck } from "./connect-check";
import type { Candidate, Target, UpstreamRegistry } from "./registry";
import { backoffMs, classifyStatus, retryAfterMs } from "./retry";

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

type Action = "retry" | "next_key" | "next_deployment" | "fatal" | "stop";

interface Failure {
  action: Action;
  breaker: boolean;
  error: ApiError;
  retryAfterMs: number | null;
}

type Attempt = { ok: true; value: UpstreamResponse } | { ok: false; failure: Failure } | { ok: false; client: true };

const ERROR_BODY_MS = 5_000;

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
    const r = await attempt(reg, call, pick, permit, deadline, attempts, onStop);
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

async function attempt(
  reg: UpstreamRegistry,
  call: UpstreamCall,
  cand: Candidate,
  permit: Permit,
  deadline: number,
  n: number,
  onStop: (fn: () => void) => void,
): Promise<Attempt> {
  const { target, deployment } = cand;
  const provider = target.provider;
  const adapter = adapters[provider.kind];
  const { timeouts } = reg.config;
  target.requests++;
  target.inFlight++;
  let finished = false;
  /** Ends the attempt once: statistics, and the breaker's verdict when `verdict` (else its permit is handed back). */
  const settle = (failure: string | null, verdict: Permit | null) => {
    if (finished) return;
    finished = true;
    target.inFlight--;
    call.signal.removeEventListener("abort", onClient);
    if (failure === null) {
      target.lastSuccessAt = reg.now();
      if (verdict) target.breaker.success(verdict);
      return;
    }
    if (!verdict) return target.breaker.release(permit);
    target.failures++;
    target.lastError = failure;
    target.lastErrorAt = reg.now();
    target.breaker.failure(verdict);
  };

  const controller = new AbortController();
  let why: "client" | "first_byte" | "deadline" | null = null;
  const onClient = () => {
    why ??= "client";
    controller.abort();
  };
  call.signal.addEventListener("abort", onClient, { once: true });
  onStop(onClient);
  if (call.signal.aborted) onClient();
  const left = () => deadline - performance.now();
  // Non-streaming answers arrive whole, so only the total timeout bounds their wait.
  const headerWait = call.stream ? Math.min(timeouts.first_byte_ms, left()) : left();
  const waitIsDeadline = headerWait >= left();
  const timer = setTimeout(() => {
    why ??= waitIsDeadline ? "deadline" : "first_byte";
    controller.abort();
  }, Math.max(0, headerWait));

  const fail = (f: Failure): Attempt => {
    clearTimeout(timer);
    settle(`${f.error.code ?? "upstream_error"}: ${f.error.message}`, f.breaker ? permit : null);
    // A host that did not connect or answer gets a connect check before it is used again.
    const silent = f.error.code === "upstream_unreachable" || f.error.code === "upstream_timeout";
    reg.markOrigin(provider.base_url, !silent);
    return { ok: false, failure: f };
  };
  const timedOut = (): Attempt =>
    fail({
      action: why === "deadline" ? "stop" : "retry",
      breaker: true,
      retryAfterMs: null,
      error: errors.upstream(504, "The upstream provider did not answer in time. Please retry.", "upstream_timeout"),
    });
  const unreachable = (): Attempt =>
    fail({
      action: "retry",
      breaker: true,
      retryAfterMs: null,
      error: errors.upstream(502, "Could not reach the upstream provider. Please retry.", "upstream_unreachable"),
    });
  const clientGone = (): Attempt => {
    clearTimeout(timer);
    settle("client_closed", null);
    return { ok: false, client: true };
  };

  if (reg.needsConnectCheck(provider.base_url)) {
    const { hostname, port } = hostPort(provider.base_url);
    const problem = await tcpCheck(hostname, port, Math.max(1, Math.min(timeouts.connect_ms, left())));
    if (why === "client") return clientGone();
    if (problem) return unreachable();
  }

  let res: Response;
  try {
    res = await fetch(provider.base_url + adapter.chatPath, {
      method: "POST",
      headers: upstreamHeaders({ ...provider, api_key: target.key }, call.stream),
      body: call.body(deployment, provider, adapter),
      signal: controller.signal,
    });
  } catch {
    if (why === "client") return clientGone();
    if (why) return timedOut();
    return unreachable();
  }
  clearTimeout(timer);
  reg.markOrigin(provider.base_url, true);

  if (res.ok) {
    target.breaker.success(permit);
    return {
      ok: true,
      value: {
        response: res,
        candidate: cand,
        adapter,
        deadline,
        attempts: n,
        abort: () => controller.abort(),
        // The breaker already counted the answer; a body the upstream broke counts once more.
        end: (failure) => settle(failure ?? null, failure ? "normal" : null),
      },
    };
  }

  // The error body is read with its own short limit: a body that hangs must not hold the retry.
  const bodyTimer = setTimeout(() => controller.abort(), Math.max(0, Math.min(ERROR_BODY_MS, left())));
  const text = await res.text().catch(() => "");
  clearTimeout(bodyTimer);
  if (why === "client") return clientGone();
  const error = translateUpstreamError(res.status, text, res.headers.get("retry-after"));
  const cls = classifyStatus(res.status, error.code);
  return fail({ action: cls.action, breaker: cls.breaker, error, retryAfterMs: retryAfterMs(res.headers) });
}
