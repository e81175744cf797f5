import type { Principal } from "../key-auth";

/**
 * Rate limiting on the hot path sits behind this interface (embedded: in memory, snapshotted to
 * SQLite; later possibly a shared store).
 */
export interface RateLimiter {
  /**
   * Admits one request for the principal (key and account levels), charging `estimatedTokens`
   * to the token buckets and taking a concurrency slot, or throws ApiError 429 with retry-after.
   * `afterBody`: its body was read, so a refusal costs its request (refusedAfterBody), which an
   * RPM 429's retry-after then counts (a shared limiter; one process checks the RPM before the body).
   */
  admit(p: Principal, estimatedTokens: number, afterBody?: boolean): Admission;
  /**
   * Before a request's body is read: throws the 429 admit() would throw whatever the body asks
   * (no request left in a minute, tokens in debt, every concurrency slot taken, bodies being read included), and
   * counts this body as being read until the function returned is called (idempotent). A key
   * refused its requests, or one holding every slot with bodies it never finishes sending, costs
   * no body read and no memory.
   */
  beforeBody?(p: Principal): () => void;
  /**
   * A request refused after its body was read and parsed (400, 404, 402, or admit's own 429):
   * it costs one request and `tokens` (its body's estimate; none for a retryable 429) at every
   * level, so that the work of reading and parsing bodies is bounded by the key's and the
   * account's rpm and tpm whatever the answer. The tokens' debt is at most a minute's.
   */
  refusedAfterBody?(p: Principal, tokens?: number): void;
  /** x-ratelimit-* headers for a principal without admitting anything (for non-chat /v1 routes). */
  headers(p: Principal): Record<string, string>;
  /** The limits that apply to the principal and what remains of them (GET /v1/me). */
  limits(p: Principal): LimitsView;
  /** The same, read afresh where buckets are shared with other instances (PostgreSQL). */
  freshLimits?(p: Principal): Promise<LimitsView>;
  /** Writes the bucket state to the database (periodically and at shutdown); returns rows written. */
  persist(): number;
  /**
   * Before the synchronous admission: takes what the request needs from buckets shared with other
   * instances (PostgreSQL). Absent on the embedded limiter, whose buckets are all here.
   */
  prepare?(p: Principal, estimatedTokens: number): Promise<() => void>;
  /** A key was rotated into `newKeyId`: the line's limits go on from where they were. */
  keyRotated?(oldKeyId: string, newKeyId: string): void;
}

export interface Admission {
  /** x-ratelimit-* headers as of this admission. */
  readonly headers: Record<string, string>;
  /** Corrects the tokens charged at admission with the real usage; only the first call counts. */
  settle(actualTokens: number): void;
  /** Frees the concurrency slot; idempotent, call on every exit path. */
  release(): void;
  /**
   * For a request refused before any upstream work (e.g. 402 at credit reservation): gives back
   * the request and its tokens and frees the slot, so that an out-of-credit client keeps getting
   * 402s rather than running into 429s. Idempotent; no effect after settle().
   */
  cancel(): void;
}

/** Effective limits: the tighter of the key and account levels. */
export interface LimitsView {
  plan: string;
  rpm: number;
  tpm: number;
  concurrency: number;
  remaining: { requests: number; tokens: number; concurrency: number };
  /** Time until the bucket is full again, as in x-ratelimit-reset-*. */
  reset: { requests: string; tokens: string };
}
