import { z } from "zod";
import { ipVersion } from "../lib/ip";
import { isTimeZone } from "../money/budget-clock";
import { ModelSchema, ProviderSchema, scaledUsd } from "./model-schema";
import { decimal, int } from "./numbers";

export * from "./model-schema";

/** A secret sent in an HTTP header (the admin token, an upstream key): printable ASCII, no blank (HTTP would strip or refuse it). */
export const HEADER_SECRET = /^[\x21-\x7e]+$/;


/**
 * An IP address, or a host name of RFC 1123 labels whose last one is not all
 * digits: 999.999.999.999 is a mistyped address, not a name to look up.
 */
function isListenHost(v: string): boolean {
  if (ipVersion(v) !== 0) return true;
  const labels = v.replace(/\.$/, "").split(".");
  return v.length <= 253 && labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)) && !/^\d+$/.test(labels.at(-1)!);
}

/** Resilience: time limits of one proxied request (src/gateway/upstream). */
export const TimeoutsSchema = z.strictObject({
  /** A request body must have arrived this soon after the headers (then 408): slow bodies cannot pin connections. */
  body_ms: int(100, 600_000).default(30_000),
  /** TCP connect to an upstream host (checked before using a host that is idle or was failing). */
  connect_ms: int(100, 120_000).default(5_000),
  /** Until the upstream's response headers, streaming or not (a whole answer's headers come when it is done). */
  first_byte_ms: int(100, 900_000).default(60_000),
  /** Streaming: longest silence between two upstream chunks. */
  stream_gap_ms: int(100, 900_000).default(60_000),
  /** Whole request, retries and streaming included. */
  total_ms: int(1_000, 3_600_000).default(600_000),
});

/** Resilience: retries before the first byte reached the client. */
export const RetrySchema = z.strictObject({
  /** Upstream attempts per request, the first included (1 = no retry). */
  max_attempts: int(1, 10).default(3),
  /** No new attempt starts after this much time since the request arrived. */
  budget_ms: int(0, 600_000).default(15_000),
  /** Backoff base: attempt n waits a random time up to base_ms * 2^(n-1) (full jitter). */
  base_ms: int(0, 60_000).default(200),
});

/** Resilience: circuit breaker per upstream key (only failures that implicate the upstream count). */
export const BreakerSchema = z.strictObject({
  /** Consecutive failures (within window_ms) that open the breaker. */
  failures: int(1, 1000).default(5),
  /** Failures older than this are forgotten; also the window of the reported error rate. */
  window_ms: int(1_000, 3_600_000).default(60_000),
  /** An open breaker lets one probe request through after this long. */
  cooldown_ms: int(100, 3_600_000).default(30_000),
  /** Failures must come from this many distinct accounts to open it (set 1 for a gateway with one account). */
  min_accounts: int(1, 1000).default(2),
  /** It also opens when at least `failure_rate` of at least `min_requests` calls in the window failed. */
  min_requests: int(1, 1_000_000).default(20),
  failure_rate: decimal(z.gt(0), z.lte(1)).default(0.5),
});

/** Rate-limit plan: the limits apply per key and per account (src/gateway/limits). */
export const PlanSchema = z.strictObject({
  rpm: int(1, Number.MAX_SAFE_INTEGER).describe("requests per minute (also the request burst)"),
  tpm: int(1, Number.MAX_SAFE_INTEGER).describe("tokens per minute (also the token burst)"),
  concurrency: int(1, Number.MAX_SAFE_INTEGER).describe("maximum requests in flight"),
});

/** Generous but real: the plan named "default" unless configured otherwise (see load.ts). */
export const BUILTIN_DEFAULT_PLAN = { rpm: 600, tpm: 1_000_000, concurrency: 50 } as const;

/** Usage tier: an account whose lifetime top-ups reach the threshold moves up to `plan`. */
export const TierSchema = z
  .strictObject({ min_lifetime_topup_usd: scaledUsd, plan: z.string().min(1) })
  .transform((t) => ({ min_lifetime_topup_micros: t.min_lifetime_topup_usd, plan: t.plan }));

/** A list from the environment: comma-separated, or "none" for an empty one. */
const envList = (v: unknown): unknown => (v === "none" ? [] : typeof v === "string" ? v.split(",").map((x) => x.trim()).filter(Boolean) : v);

export const ConfigSchema = z.strictObject({
  port: int(0, 65535).default(8080),
  /** The address to listen on: an IP address or a host name (anything else failed only at listen, after migrating). */
  host: z
    .string()
    .refine(isListenHost, "an IP address or host name, without a port or brackets, such as 0.0.0.0, 127.0.0.1, :: or localhost")
    .default("0.0.0.0"),
  db_path: z.string().min(1).default("./data/tollgate.db"),
  /**
   * A PostgreSQL database (postgres://user:password@host:5432/name) instead of the embedded
   * SQLite file: several gateway instances may then serve one deployment (docs/operations.md).
   */
  database_url: z.string().regex(/^postgres(ql)?:\/\/\S+$/, "a postgres:// or postgresql:// URL").optional(),
  /** This instance's name on a shared database (leases, /admin/upstreams, metrics); default host:pid. */
  instance_id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "1-64 characters of A-Z a-z 0-9 _ . : -").optional(),
  /** Sent in a header: HTTP strips blanks around it and cannot carry a line break, so such a token could never match. */
  admin_token: z
    .string()
    .min(16, "must be at least 16 characters")
    .regex(HEADER_SECRET, "printable ASCII without blanks: a space, tab or line break (a trailing one from an env file?) could never be sent")
    .optional(),
  key_prefix: z.string().regex(/^[A-Za-z0-9_-]{1,16}$/, "1-16 characters of A-Z a-z 0-9 _ -").default("sk-tg-"),
  xai_api_key: z.string().min(1).optional(),
  xai_base_url: z.url({ protocol: /^https?$/ }).default("https://api.x.ai/v1"),
  /** Base URL customers use, shown in docs and the portal; defaults to http://host:port. */
  public_url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).optional(),
  /** A hold not settled within this time is released by the sweeper. */
  hold_ttl_seconds: int(10, 86400).default(900),
  /**
   * Settlements are made durable in a journal file beside the database (`<db_path>-settlements`)
   * and written to SQLite in batches, at the latest this long after the oldest (sooner once 16
   * wait); 0 = one SQLite commit per group of settlements.
   */
  settle_batch_ms: int(0, 10_000).default(100),
  /**
   * Linux scheduling policy of `serve`'s threads (src/runtime/cpu-scheduling.ts): "auto" puts Bun's
   * HTTP client thread under SCHED_BATCH while the JavaScript thread is saturated (more requests
   * per core) and back when it is not (latency); "batch" puts every thread under it from the first
   * chat request; "normal" leaves them be.
   */
  cpu_scheduling: z.enum(["auto", "batch", "normal"]).default("auto"),
  max_body_bytes: int(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Largest whole (non-streaming) upstream answer read: one past it is cut there, a 502 (its bytes would all sit in memory). */
  max_answer_bytes: int(1024 * 1024, 1024 * 1024 * 1024).default(128 * 1024 * 1024),
  /**
   * Origins whose pages may call the customer API (/v1) from a browser (CORS): "*" for any, as
   * OpenAI's API does, or exact origins; empty (env: "none") turns CORS off.
   */
  cors_origins: z
    .preprocess(
      envList,
      z.array(z.union([z.literal("*"), z.string().regex(/^https?:\/\/[^/\s?#]+$/, 'an origin such as https://app.example.com (scheme and host, no path), or "*"')])),
    )
    .default(["*"]),
  /**
   * Collections (xAI's knowledge bases, the Responses `file_search` tool's `vector_store_ids`) that
   * customers may search. They live in the operator's upstream account, which every customer shares:
   * any id not listed is refused. Empty (env: "none"): collections search is refused.
   */
  searchable_collections: z
    .preprocess(
      envList,
      z.array(z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "a collection id (1-128 characters of A-Z a-z 0-9 _ . : -)")),
    )
    .default([]),
  timeouts: TimeoutsSchema.prefault({}),
  retry: RetrySchema.prefault({}),
  breaker: BreakerSchema.prefault({}),
  /** Proxied requests (streaming or not) in flight at once; above it 503 with retry-after. */
  max_concurrent_streams: int(1, 1_000_000).default(1000),
  /** On SIGTERM/SIGINT in-flight requests get this long to finish before they are ended. */
  shutdown_grace_ms: int(0, 3_600_000).default(20_000),
  /** Seconds an idle client connection stays open (chat requests are exempt while they wait). */
  idle_timeout_seconds: int(1, 255).default(255),
  /** The operator's log on stdout: JSON lines, plain text, or nothing (docs/operations.md). */
  log_format: z.enum(["json", "text", "off"]).default("json"),
  /** Usage-log rows older than this are rolled up into daily totals and deleted. */
  usage_retention_days: int(1, 3650).default(90),
  /**
   * Records of stored responses and their items older than this are deleted: the upstream keeps
   * a stored response 30 days (xAI, OpenAI), so a few days more forgets nothing it still has.
   */
  stored_object_retention_days: int(1, 3650).default(35),
  /**
   * Throttles: the request header in which a trusted reverse proxy passes the client's address
   * (e.g. x-forwarded-for or x-real-ip; its last entry counts). Unset: the connection's address.
   * Set it only behind such a proxy, or clients choose their own address.
   */
  trusted_proxy_header: z
    .string()
    .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "a header name such as x-forwarded-for")
    .transform((v) => v.toLowerCase())
    .optional(),
  /** Dashboard: anyone may create an account at /portal/signup (otherwise invite only). */
  signup_enabled: z.stringbool().or(z.boolean()).default(false),
  /** Dashboard: credits given to an account created by open sign-up. */
  signup_credits_usd: scaledUsd.default(0),
  /** Dashboard: lifetime of a portal or console sign-in. */
  session_ttl_hours: int(1, 24 * 90).default(24 * 7),
  /** Dashboard: lifetime of a one-time invite link. */
  invite_ttl_hours: int(1, 24 * 90).default(72),
  /** Payments: Stripe secret key (with the webhook secret enables top-ups by card). */
  stripe_secret_key: z.string().regex(/^(sk|rk)_/, "a Stripe secret (sk_...) or restricted (rk_...) key").optional(),
  /** Payments: signing secret of the Stripe webhook endpoint /webhooks/stripe (whsec_...). */
  stripe_webhook_secret: z.string().min(8).optional(),
  /** Payments (advanced; tests): where the Stripe library sends its API calls. */
  stripe_api_host: z.string().min(1).optional(),
  stripe_api_port: int(1, 65535).optional(),
  stripe_api_protocol: z.enum(["http", "https"]).optional(),
  /** Payments: ISO 4217 currency customers pay in. */
  payment_currency: z.string().regex(/^[A-Za-z]{3}$/, "a 3-letter ISO currency code").transform((v) => v.toLowerCase()).default("usd"),
  /** Payments: preset top-up amounts in currency units (env: comma-separated); kept scaled by 1e6 like USD. */
  topup_presets: z
    .preprocess((v) => (typeof v === "string" ? v.split(",").map((x) => x.trim()).filter(Boolean) : v), z.array(scaledUsd).min(1).max(8))
    .default([10_000_000, 25_000_000, 100_000_000]),
  /** Payments: bounds of a custom top-up amount, in currency units. */
  topup_min: scaledUsd.default(5_000_000),
  topup_max: scaledUsd.default(1_000_000_000),
  /** Payments: credits (USD) granted per unit of currency paid; below 1 is a markup (0.8 = 25 %). */
  credit_per_unit: scaledUsd.refine((v) => v > 0, "must be greater than 0 (a payment must buy some credit)").default(1_000_000),
  /** Payments: how customers get credits otherwise (shown in the portal's billing page, e.g. without Stripe). */
  billing_contact_text: z.string().trim().min(1).max(1000).optional(),
  /** Payments: where customers ask for credits: an https:// page or a mailto: address. */
  billing_contact_url: z.url({ protocol: /^(https?|mailto)$/, error: "an http(s):// or mailto: URL" }).optional(),
  /** Alerts: default low-balance threshold in USD for accounts without their own (0 = off). */
  low_balance_threshold_usd: scaledUsd.default(0),
  /**
   * Alerts: after an alert fired, threshold changes (or available credit that merely comes back,
   * as holds are released) re-arm it only once this long has passed; a credit that brings
   * available credit back to the threshold re-arms it at once.
   */
  alert_refire_seconds: int(0, 30 * 86_400).default(3600),
  /** Alerts: URL that receives signed low-balance webhooks. */
  alert_webhook_url: z.url({ protocol: /^https?$/ }).optional(),
  /** Alerts: HMAC-SHA256 key for the x-tollgate-signature header of alert webhooks. */
  alert_webhook_secret: z.string().min(16, "must be at least 16 characters").optional(),
  /** Alerts: SMTP server for low-balance email (to the account's email); unset = no email. */
  smtp_host: z.string().min(1).optional(),
  smtp_port: int(1, 65535).default(587),
  /** Alerts: implicit TLS (port 465); otherwise STARTTLS when the server offers it. */
  smtp_secure: z.stringbool().or(z.boolean()).default(false),
  smtp_user: z.string().min(1).optional(),
  smtp_password: z.string().min(1).optional(),
  smtp_from: z.string().min(3).default("tollgate@localhost"),
  /** Alerts: operator address that gets a copy of every low-balance email. */
  alert_email_to: z.email().optional(),
  providers: z.array(ProviderSchema).optional(),
  models: z.array(ModelSchema).optional(),
  plans: z
    .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "letters, digits, . _ -"), PlanSchema)
    .default({}),
  /** Plan of accounts whose plan is not (or no longer) configured. */
  default_plan: z.string().min(1).default("default"),
  tiers: z.array(TierSchema).default([]),
  /**
   * Budgets (per key or member, daily, weekly or monthly) reset at midnight in this IANA time
   * zone (weeks on Monday, months on the 1st).
   */
  budget_timezone: z.string().min(1).refine(isTimeZone, "an IANA time zone such as UTC or Europe/Berlin").default("UTC"),
  /** Rate-limit buckets are written to SQLite this often (and at shutdown); a crash forgives at most this much. */
  ratelimit_snapshot_seconds: int(1, 3600).default(5),
});

export type ConfigInput = z.input<typeof ConfigSchema>;
export type ProviderConfig = z.output<typeof ProviderSchema>;
export type ModelConfig = z.output<typeof ModelSchema>;
export type PlanConfig = z.output<typeof PlanSchema>;
export type TierConfig = z.output<typeof TierSchema>;
