import type { Config } from "../config/load";
import type { Log } from "../lib/log";
import type { CreditStore } from "../money/credit-store";
import type { KeyAuth } from "./key-row";
import type { RateLimiter } from "./limits/limiter";
import type { ChatMetrics } from "./metrics";
import type { DeferredRequests } from "./deferred";
import type { StoredObjects } from "./stored-objects";
import type { Upstreams } from "./upstream/upstreams";

/** What the metered proxy uses, and nothing more (the runtime's AppDeps is a superset). */
export interface GatewayDeps {
  config: Config;
  credits: CreditStore;
  keys: KeyAuth;
  limiter: RateLimiter;
  upstreams: Upstreams;
  now: () => number;
  log: Log;
  /** Who owns each object stored upstream (responses). */
  objects: StoredObjects;
  /** Deferred chat completions waiting to be fetched (their holds kept). */
  deferred: DeferredRequests;
  metrics?: ChatMetrics;
}

/** What a Meter needs to settle a request. */
export type MeterDeps = Pick<GatewayDeps, "credits" | "metrics" | "now" | "log" | "deferred">;
