import type Stripe from "stripe";
import type { Config } from "../config/load";
import type { Log } from "../lib/log";
import type { KeyAuth } from "../gateway/key-row";
import type { RateLimiter } from "../gateway/limits/limiter";
import type { ChatMetrics } from "../gateway/metrics";
import type { DeferredRequests } from "../gateway/deferred";
import type { StoredObjects } from "../gateway/stored-objects";
import type { Upstreams } from "../gateway/upstream/upstreams";
import type { AlertService } from "../modules/alerts/service";
import type { CreditStore } from "../money/credit-store";
import type { Store } from "../store/store";
import type { InFlightCap } from "../lib/in-flight";

/** Everything the app needs, built by the runtime (or a test); the app itself never listens. */
export interface AppDeps {
  config: Config;
  /** SqliteStore (embedded) or PgStore (database_url). */
  store: Store;
  credits: CreditStore;
  keys: KeyAuth;
  /** This instance's name on a shared database (/admin/upstreams, /metrics). */
  instanceId?: string;
  limiter: RateLimiter;
  adminTokenHash: string;
  now: () => number;
  /** The operator's log (one line per request and per notable event). */
  log: Log;
  /** Who owns each object stored upstream (responses). */
  objects: StoredObjects;
  /** Deferred chat completions waiting to be fetched (their holds kept). */
  deferred: DeferredRequests;
  /** Upstream keys with their circuit breakers, and the requests in flight (cap, shutdown drain). */
  upstreams: Upstreams;
  /** Payments: the Stripe client (null = not configured); built from config when absent. */
  stripe?: Stripe | null;
  /** Low-balance alerts (absent in tests that do not need them). */
  alerts?: AlertService;
  /** Counters behind GET /metrics (absent: none kept). */
  metrics?: ChatMetrics;
  /** Usage reads under way per account (API and portal): each sums a whole range (modules/usage/reads). */
  usageReads: InFlightCap<string>;
}
