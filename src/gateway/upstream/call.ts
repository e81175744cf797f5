import type { Deployment } from "../../config/load";
import { ApiError, errors } from "../../lib/errors";
import { Attempt } from "./attempt";
import type { Failure, UpstreamCall, UpstreamResponse } from "./call-types";
import type { Candidate, Target, UpstreamRegistry } from "./registry";
import { backoffMs } from "./retry";

export type { UpstreamCall, UpstreamResponse } from "./call-types";

/** The client went away before the upstream answered. */
export class ClientClosed extends Error {
  /** `attempting`: an upstream attempt was under way (the upstream may have read the prompt). */
  constructor(readonly attempting: boolean) {
    super("client closed the request");
  }
}

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
 * within `retry.max_attempts` and `timeouts.total_ms`; `retry.budget_ms` bounds the waits and the
 * repeats (see `Caller.fits`). Nothing has been sent to the client yet,
 * and no attempt is ever charged. Throws the translated ApiError of the last failure, a 503
 * with retry-after when every breaker is open, or ClientClosed.
 */
export function callUpstream(reg: UpstreamRegistry, call: UpstreamCall): Promise<UpstreamResponse> {
  return new Caller(reg, call).run();
}

/** The retry loop of one request: which candidate next, how long to wait, when to give up. */
class Caller {
  private readonly list: Candidate[];
  private readonly deadline: number;
  private readonly budgetEnd: number;
  // Made on the first failure that needs them: most requests never fail.
  private refusedKeys: Set<Target> | null = null;
  private missingDeployments: Set<Deployment> | null = null;
  /** Candidates that failed in this request: past the budget, only the others are tried. */
  private tried: Set<Candidate> | null = null;
  /** When each key that answered with retry-after may be asked again (performance.now()). */
  private notBefore: Map<Target, number> | null = null;
  private last: { failure: Failure; target: Target } | null = null;
  private pos = 0;
  private attempts = 0;
  private stopped = false;

  constructor(
    private readonly reg: UpstreamRegistry,
    private readonly call: UpstreamCall,
  ) {
    const started = call.startedAt ?? performance.now();
    this.deadline = started + reg.config.timeouts.total_ms;
    this.budgetEnd = started + reg.config.retry.budget_ms;
    const all = reg.candidates(call.model);
    const pinned = call.pin === undefined ? undefined : reg.resolve(call.pin);
    this.list = call.pin === undefined ? all : all.filter((c) => c.target === pinned);
  }

  private readonly onStop = (fn: () => void) =>
    this.call.onStop?.(() => {
      this.stopped = true;
      fn();
    });

  async run(): Promise<UpstreamResponse> {
    const { retry } = this.reg.config;
    while (this.attempts < retry.max_attempts) {
      const pick = this.next();
      if (!pick) break;
      if (this.attempts > 0) {
        const wait = this.fits(pick);
        // A key whose retry-after runs past the budget is left out: another may answer now.
        if (wait === "later") {
          (this.refusedKeys ??= new Set()).add(pick.target);
          continue;
        }
        if (wait === "never") break;
        await sleep(wait, this.call.signal, this.onStop);
      }
      // Gone (or stopped) after a failed attempt or during the backoff: nothing more is asked.
      if (this.attempts > 0 && (this.call.signal.aborted || this.stopped)) throw new ClientClosed(false);
      const permit = pick.target.breaker.acquire();
      if (!permit) continue;
      this.attempts++;
      this.call.onAttempt?.(`${pick.target.id}/${pick.deployment.upstream_model}`, pick.target.ref);
      const r = await new Attempt(this.reg, this.call, pick, permit, this.deadline, this.attempts, this.onStop).run();
      if (r.ok) return r.value;
      if ("client" in r) throw new ClientClosed(r.sent);
      if ("local" in r) throw r.local;
      this.failed(r.failure, pick);
    }
    if (this.call.signal.aborted || this.stopped) throw new ClientClosed(false);
    if (this.last) throw this.last.failure.error;
    throw allOpen(this.reg, this.list);
  }

  /**
   * The wait before trying `pick` again, or why not: within `retry.budget_ms` any candidate after
   * its backoff; past it no more waiting and no repeats, but a key or deployment not tried yet
   * still gets its attempt at once (a primary that hung past the budget must not cost the
   * fallback), up to the total deadline. "later": the key asked to wait beyond the budget.
   */
  private fits(pick: Candidate): number | "later" | "never" {
    const wait = this.backoff(pick);
    const now = performance.now();
    if (now + wait <= Math.min(this.budgetEnd, this.deadline)) return wait;
    if (this.notBefore?.has(pick.target)) return "later";
    return this.tried?.has(pick) || now >= this.deadline ? "never" : 0;
  }

  private failed(failure: Failure, pick: Candidate): void {
    this.last = { failure, target: pick.target };
    (this.tried ??= new Set()).add(pick);
    if (failure.retryAfterMs !== null) (this.notBefore ??= new Map()).set(pick.target, performance.now() + failure.retryAfterMs);
    if (failure.action === "fatal" || failure.action === "stop") throw failure.error;
    if (failure.action === "next_key") (this.refusedKeys ??= new Set()).add(pick.target);
    if (failure.action === "next_deployment") (this.missingDeployments ??= new Set()).add(pick.deployment);
  }

  /**
   * retry-after speaks about the key that sent it, also when other keys failed since; another key
   * or deployment need not wait.
   */
  private backoff(pick: Candidate): number {
    const wait = backoffMs(this.attempts, this.reg.config.retry.base_ms);
    const until = this.notBefore?.get(pick.target);
    return until === undefined ? wait : Math.max(wait, Math.ceil(until - performance.now()));
  }

  /** The next usable candidate after the last one tried, wrapping around to retry earlier ones. */
  private next(): Candidate | null {
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const c = list[(this.pos + i) % list.length]!;
      if (!this.refusedKeys?.has(c.target) && !this.missingDeployments?.has(c.deployment) && c.target.breaker.allows()) {
        this.pos = (this.pos + i + 1) % list.length;
        return c;
      }
    }
    return null;
  }
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
