import { cappedText } from "../../lib/capped-body";
import { ApiError, errors } from "../../lib/errors";
import { adapters, upstreamHeaders } from "../providers/adapters";
import { translateUpstreamError, upstreamMessage } from "../providers/errors";
import type { Permit } from "./breaker";
import type { AttemptResult, BodyEnd, Failure, UpstreamCall } from "./call-types";
import { tcpCheck } from "./connect-check";
import type { Candidate, UpstreamRegistry } from "./registry";
import { classifyStatus, retryAfterMs } from "./retry";

/** How long an upstream's error body may take: a body that hangs must not hold the retry. */
const ERROR_BODY_MS = 5_000;
/** And how much of it is read: an error is a message, not megabytes (beyond, it is read as none). */
export const ERROR_BODY_BYTES = 1024 * 1024;

/**
 * One upstream attempt: the body, a connect check when the host is new or was silent, the
 * request with its first-byte timeout, and the verdict for the retry loop and the breaker. The
 * target's counters, in-flight count and breaker verdict are kept exactly once per attempt
 * (`settle`); for a 2xx that is when its body ends, since a stream may still break. Only what
 * implicates the upstream reaches its breaker: a body the gateway cannot build is the request's
 * fault, and a client that leaves says nothing about the upstream.
 */
export class Attempt {
  private readonly controller = new AbortController();
  private why: "client" | "first_byte" | "deadline" | null = null;
  /** The upstream has the request (a whole answer is then let finish when the client leaves). */
  private sent = false;
  private finished = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly reg: UpstreamRegistry,
    private readonly call: UpstreamCall,
    private readonly cand: Candidate,
    private permit: Permit,
    private readonly deadline: number,
    private readonly n: number,
    private readonly onStop: (fn: () => void) => void,
  ) {}

  async run(): Promise<AttemptResult> {
    const { provider } = this.cand.target;
    const adapter = adapters[provider.kind];
    let body: string;
    try {
      body = this.call.body(this.cand.deployment, provider, adapter);
    } catch (e) {
      this.cand.target.breaker.release(this.permit);
      return { ok: false, local: e instanceof ApiError ? e : errors.badRequest("The request could not be forwarded: it is not representable as JSON.") };
    }
    this.begin();
    if (this.reg.needsConnectCheck(provider.base_url)) {
      const { hostname, port } = this.reg.connectAddress(provider.base_url);
      const problem = await tcpCheck(hostname, port, Math.max(1, Math.min(this.reg.config.timeouts.connect_ms, this.left())));
      if (this.call.signal.aborted) this.onClient();
      if (problem && !this.clientLeft()) return this.unreachable();
    }
    if (this.clientLeft()) return this.clientGone();
    let res: Response;
    try {
      this.sent = true;
      res = await fetch(provider.base_url + this.call.path, {
        method: "POST",
        headers: upstreamHeaders(provider, this.cand.target.key, this.call.stream, this.call.headers),
        body,
        signal: this.controller.signal,
        // Never followed: the upstream key would go to whatever origin a redirect names.
        redirect: "manual",
      });
    } catch {
      if (this.clientLeft()) return this.clientGone();
      return this.why ? this.timedOut() : this.unreachable();
    }
    clearTimeout(this.timer);
    this.reg.markOrigin(provider.base_url, true);
    return res.ok ? this.answered(res) : this.refused(res);
  }

  /** Counts the attempt, follows the client's signal and shutdown, and starts the header timer. */
  private begin(): void {
    const { target } = this.cand;
    target.requests++;
    target.inFlight++;
    // A whole answer is let finish once asked for, and nothing is awaited before that but the
    // connect check (after which the signal is read): only a stream follows its client's signal.
    if (this.call.stream) this.call.signal.addEventListener("abort", this.onClient, { once: true });
    this.onStop(this.onStop_);
    if (this.call.signal.aborted) this.onClient();
    const headerWait = Math.min(this.reg.config.timeouts.first_byte_ms, this.left());
    const waitIsDeadline = headerWait >= this.left();
    this.timer = setTimeout(() => {
      this.why ??= waitIsDeadline ? "deadline" : "first_byte";
      this.controller.abort();
    }, Math.max(0, headerWait));
  }

  /**
   * The client left. A stream's upstream request is aborted; a whole answer already asked for is
   * let finish (bounded by the timeouts), so that what the upstream bills is charged.
   */
  private readonly onClient = (): void => {
    if (this.sent && !this.call.stream) return;
    this.why ??= "client";
    this.controller.abort();
  };

  /** Shutdown (after the grace period) ends the attempt whatever it is waiting for. */
  private readonly onStop_ = (): void => {
    this.why ??= "client";
    this.controller.abort();
  };

  /** The client left (or shutdown ended the attempt) before the upstream answered. */
  private clientLeft(): boolean {
    return this.why === "client";
  }

  private left(): number {
    return this.deadline - performance.now();
  }

  /** 2xx: the body is still to be read by the caller, who reports how it ended (the verdict). */
  private answered(res: Response): AttemptResult {
    const { target } = this.cand;
    this.permit = target.breaker.answered(this.permit);
    // A stream's relay follows its client from here: it may read the usage of a whole answer before it aborts.
    if (this.call.stream) this.call.signal.removeEventListener("abort", this.onClient);
    return {
      ok: true,
      value: {
        response: res,
        candidate: this.cand,
        adapter: adapters[target.provider.kind],
        deadline: this.deadline,
        attempts: this.n,
        abort: () => this.controller.abort(),
        end: (how: BodyEnd) => (how === "cut" ? this.settle("client_closed", false) : this.settle(how === "complete" ? null : how.failure, true)),
      },
    };
  }

  /** An error status: its body read (briefly), translated for the customer and classified. */
  private async refused(res: Response): Promise<AttemptResult> {
    const bodyTimer = setTimeout(() => this.controller.abort(), Math.max(0, Math.min(ERROR_BODY_MS, this.left())));
    const text = await cappedText(res, ERROR_BODY_BYTES).catch(() => "");
    clearTimeout(bodyTimer);
    // The upstream refused the request (an error status): nothing it did is billable.
    if (this.clientLeft()) return this.clientGone(false);
    const gone = res.status === 404 ? (this.call.notFound?.(upstreamMessage(text)) ?? null) : null;
    if (gone) return this.fail({ action: "fatal", breaker: false, error: gone, retryAfterMs: null }, res.status);
    const wait = retryAfterMs(res.headers);
    const error = translateUpstreamError(res.status, text, wait, this.reg.log.enabled);
    const cls = classifyStatus(res.status, error.code);
    return this.fail({ action: cls.action, breaker: cls.breaker, error, retryAfterMs: wait }, res.status);
  }

  private fail(f: Failure, status: number | null): AttemptResult {
    clearTimeout(this.timer);
    const { target } = this.cand;
    this.settle(`${f.error.code ?? "upstream_error"}: ${f.error.message}`, f.breaker);
    // A host that did not connect or answer gets a connect check before it is used again.
    const silent = f.error.code === "upstream_unreachable" || f.error.code === "upstream_timeout";
    this.reg.markOrigin(target.provider.base_url, !silent);
    this.reg.log.event(
      "upstream_failure",
      { request_id: this.call.requestId, upstream: target.id, model: this.cand.deployment.upstream_model, attempt: this.n, status, code: f.error.code, message: f.breaker ? f.error.message : undefined, counted: f.breaker },
      "warn",
    );
    return { ok: false, failure: f };
  }

  private timedOut(): AttemptResult {
    const error = errors.upstream(504, "The upstream provider did not answer in time. Please retry.", "upstream_timeout");
    return this.fail({ action: this.why === "deadline" ? "stop" : "retry", breaker: true, retryAfterMs: null, error }, null);
  }

  private unreachable(): AttemptResult {
    const error = errors.upstream(502, "Could not reach the upstream provider. Please retry.", "upstream_unreachable");
    return this.fail({ action: "retry", breaker: true, retryAfterMs: null, error }, null);
  }

  /** `sent`: the upstream may have read the prompt (charged to a client that left). */
  private clientGone(sent = this.sent): AttemptResult {
    clearTimeout(this.timer);
    this.settle("client_closed", false);
    return { ok: false, client: true, sent };
  }

  /**
   * Ends the attempt once: statistics, and the breaker's verdict when `counts` (a success when
   * `failure` is null); otherwise a probe's slot, if still held, is handed back.
   */
  private settle(failure: string | null, counts: boolean): void {
    if (this.finished) return;
    this.finished = true;
    const { target } = this.cand;
    target.inFlight--;
    if (this.call.stream) this.call.signal.removeEventListener("abort", this.onClient);
    if (!counts) return target.breaker.release(this.permit);
    if (failure === null) {
      target.lastSuccessAt = this.reg.now();
      return target.breaker.success(this.permit, this.call.accountId);
    }
    target.failures++;
    target.lastError = failure;
    target.lastErrorAt = this.reg.now();
    target.breaker.failure(this.permit, this.call.accountId);
  }
}
