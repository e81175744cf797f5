import { z } from "zod";
import { usdToMicros } from "../lib/money";

/** A USD amount given as number or string, kept as an exact integer scaled by 1e6. */
const scaledUsd = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    try {
      const micros = usdToMicros(typeof v === "number" ? String(v) : v);
      if (micros < 0) throw new Error("must not be negative");
      return micros;
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  });

export const ProviderSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "lowercase letters, digits, - and _"),
  base_url: z.url({ protocol: /^https?$/ }),
  api_key: z.string().min(1).optional(),
  /** Name of an environment variable holding the key (resolved once at load). */
  api_key_env: z.string().min(1).optional(),
  /** Path of a file holding the key (resolved once at load). */
  api_key_file: z.string().min(1).optional(),
  headers: z.record(z.string(), z.string()).default({}),
});

export const ModelSchema = z.object({
  id: z.string().min(1),
  provider: z.string().min(1),
  upstream_model: z.string().min(1).optional(),
  /** USD per 1M tokens, which is micros per token; stored scaled by 1e6. */
  input_price: scaledUsd,
  cached_input_price: scaledUsd.optional(),
  output_price: scaledUsd,
  context_window: z.number().int().positive().default(131072),
  max_output_tokens: z.number().int().positive().default(32768),
  created: z.number().int().nonnegative().default(1735689600),
});

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const ConfigSchema = z.object({
  port: int(0, 65535).default(8080),
  host: z.string().min(1).default("0.0.0.0"),
  db_path: z.string().min(1).default("./data/tollgate.db"),
  admin_token: z.string().min(16, "must be at least 16 characters").optional(),
  key_prefix: z.string().regex(/^[A-Za-z0-9_-]{1,16}$/, "1-16 characters of A-Z a-z 0-9 _ -").default("sk-tg-"),
  xai_api_key: z.string().min(1).optional(),
  xai_base_url: z.url({ protocol: /^https?$/ }).default("https://api.x.ai/v1"),
  /** Base URL customers use, shown in docs and the portal; defaults to http://host:port. */
  public_url: z.url().optional(),
  /** A hold not settled within this time is released by the sweeper. */
  hold_ttl_seconds: int(10, 86400).default(900),
  max_body_bytes: int(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Usage-log rows older than this are rolled up into daily totals and deleted. */
  usage_retention_days: int(1, 3650).default(90),
  /** Dashboard: anyone may create an account at /portal/signup (otherwise invite only). */
  signup_enabled: z.stringbool().or(z.boolean()).default(false),
  /** Dashboard: credits given to an account created by open sign-up. */
  signup_credits_usd: scaledUsd.default(0),
  /** Dashboard: lifetime of a portal or console sign-in. */
  session_ttl_hours: int(1, 24 * 90).default(24 * 7),
  /** Dashboard: lifetime of a one-time invite link. */
  invite_ttl_hours: int(1, 24 * 90).default(72),
  providers: z.array(ProviderSchema).optional(),
  models: z.array(ModelSchema).optional(),
});

export type ConfigInput = z.input<typeof ConfigSchema>;
export type ProviderConfig = z.output<typeof ProviderSchema>;
export type ModelConfig = z.output<typeof ModelSchema>;

/** Env var → config field. Env wins over the file. */
export const ENV_MAP: Record<string, keyof ConfigInput> = {
  PORT: "port",
  HOST: "host",
  TOLLGATE_DB: "db_path",
  TOLLGATE_ADMIN_TOKEN: "admin_token",
  TOLLGATE_KEY_PREFIX: "key_prefix",
  XAI_API_KEY: "xai_api_key",
  XAI_BASE_URL: "xai_base_url",
  TOLLGATE_PUBLIC_URL: "public_url",
  TOLLGATE_HOLD_TTL_SECONDS: "hold_ttl_seconds",
  TOLLGATE_MAX_BODY_BYTES: "max_body_bytes",
  TOLLGATE_USAGE_RETENTION_DAYS: "usage_retention_days",
  TOLLGATE_SIGNUP_ENABLED: "signup_enabled",
  TOLLGATE_SIGNUP_CREDITS_USD: "signup_credits_usd",
  TOLLGATE_SESSION_TTL_HOURS: "session_ttl_hours",
  TOLLGATE_INVITE_TTL_HOURS: "invite_ttl_hours",
};
