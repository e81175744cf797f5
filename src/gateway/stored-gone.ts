import type { ApiError } from "../lib/errors";
import type { Dialect, GatewayBody, StoredGone } from "./dialects/types";
import type { StoredObjects } from "./stored-objects";

/**
 * One request's reading of an upstream 404 about the stored objects it names (Dialect.storedGone):
 * the error the call ends with, and the record it drops once that error is the request's answer.
 */
export class GoneWatch<B extends GatewayBody> {
  private gone: StoredGone | null = null;

  constructor(
    private readonly dialect: Dialect<B>,
    private readonly body: B,
  ) {}

  /** For UpstreamCall.notFound. */
  readonly notFound = (upstreamMessage: string): ApiError | null => {
    this.gone = this.dialect.storedGone?.(this.body, upstreamMessage) ?? null;
    return this.gone?.error ?? null;
  };

  /** Forgets what the upstream no longer has, when `answer` is the 404 saying so. */
  async drop(objects: StoredObjects, answer: unknown): Promise<void> {
    if (this.gone?.forget && answer === this.gone.error) await objects.remove(this.gone.forget);
  }
}

/** Only a dialect that names stored objects reads an upstream 404 itself. */
export const goneWatch = <B extends GatewayBody>(dialect: Dialect<B>, body: B): GoneWatch<B> | null => (dialect.storedGone ? new GoneWatch(dialect, body) : null);
