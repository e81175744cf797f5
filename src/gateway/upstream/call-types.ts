import type { Deployment, Model, Provider } from "../../config/load";
import type { ApiError } from "../../lib/errors";
import type { ProviderAdapter } from "../providers/adapters";
import type { Candidate } from "./registry";

export interface UpstreamCall {
  model: Model;
  stream: boolean;
  /** Path under the provider's base URL (the dialect's). */
  path: string;
  /** Client headers that go upstream too (e.g. anthropic-version). */
  headers?: Record<string, string>;
  /** The only upstream key to use (its recorded reference: UpstreamRegistry.resolve): the one holding a stored object the request refers to. */
  pin?: string;
  /** The account the request is for: a breaker opens only on failures of several accounts. */
  accountId: string;
  /** For the log lines of failed attempts. */
  requestId: string;
  /** The JSON body for one deployment (its upstream model id, its adapter's quirks); may throw an ApiError (the request's fault). */
  body(deployment: Deployment, provider: Provider, adapter: ProviderAdapter): string;
  /**
   * The client's signal. Its abort stops the attempts; it also aborts a stream's upstream
   * request until the upstream answers (then the stream relay follows the client), but a whole
   * (non-streaming) answer already asked for is let finish, to be charged.
   */
  signal: AbortSignal;
  /**
   * Sets what ending this request at once (gateway shutdown) must do right now; each call
   * replaces the previous one (Lease.onTerminate). Ending then looks like the client leaving,
   * without the client's signal: the caller tells the two apart. Cheaper than merging signals.
   */
  onStop?: (fn: () => void) => void;
  /**
   * What an upstream 404 means when the request names objects stored upstream: the request's own
   * error (one is gone there), which ends the call at once (no retry, no failover, the key not
   * blamed); null when the 404 is about something else (a deployment without the model).
   */
  notFound?: (upstreamMessage: string) => ApiError | null;
  /** Told of every attempt, with what it goes to (`<provider>#<n>/<upstream model>`) and its key's stable id (Target.ref). */
  onAttempt?: (upstream: string, keyRef: string) => void;
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
  /** The body has ended: the attempt's one verdict for the breaker (see BodyEnd). */
  end(how: BodyEnd): void;
}

/**
 * How an answer's body ended, as the breaker hears it: read to its end ("complete": a success),
 * broken by the upstream (`failure`: why; a failure), or cut for a reason that says nothing about
 * the upstream ("cut": the client left, shutdown, a client that stopped reading).
 */
export type BodyEnd = "complete" | "cut" | { failure: string };

export type Action = "retry" | "next_key" | "next_deployment" | "fatal" | "stop";

export interface Failure {
  action: Action;
  breaker: boolean;
  error: ApiError;
  retryAfterMs: number | null;
}

export type AttemptResult =
  | { ok: true; value: UpstreamResponse }
  | { ok: false; failure: Failure }
  | { ok: false; client: true; sent: boolean }
  /** The gateway could not build the request (the request's own fault): no upstream was involved. */
  | { ok: false; local: ApiError };
