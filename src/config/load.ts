import { readFileSync } from "node:fs";
import { z } from "zod";
import { MAX_BALANCE_MICROS } from "../money/units";
import { defaultModels } from "./catalogue";
import { ConfigError } from "./config-error";
import { formatIssue, unknownEnvNames } from "./issues";
import { describeParseError } from "./parse-error";
import { BUILTIN_DEFAULT_PLAN, ConfigSchema, DEFAULT_TOOL_PRICES, type ModelConfig, type ProviderConfig, type Tool } from "./schema";
import { ENV_MAP } from "./env-map";
import { upstreamKeys } from "./upstream-keys";

export interface Provider extends Omit<ProviderConfig, "api_key_env" | "api_key_file" | "kind" | "api_keys"> {
  kind: "openai" | "xai";
  /** Every upstream key of the provider (may be empty); `api_key` is the first. Absent: just `api_key`. */
  api_keys?: readonly string[];
}
/** One provider serving a model, resolved (upstream model id filled in). */
export interface Deployment {
  provider: string;
  upstream_model: string;
  priority: number;
  weight: number;
}
export type Model = Omit<ModelConfig, "provider" | "deployments" | "input_price" | "cached_input_price" | "output_price" | "image_price" | "tool_prices"> & {
  /** The first deployment's provider (the simple form). */
  provider: string;
  upstream_model: string;
  input_price: number;
  cached_input_price: number;
  output_price: number;
  /** Per image generated (0 for chat models). */
  image_price: number;
  /** Per 1,000 calls of each server-side tool, xAI's list prices where not configured. */
  tool_prices: Readonly<Record<Tool, number>>;
  /** Ordered by priority. Absent (configs built in code): the one `provider`. */
  deployments?: readonly Deployment[];
};

export type Config = Readonly<
  Omit<z.output<typeof ConfigSchema>, "providers" | "models"> & {
    providers: readonly Provider[];
    models: readonly Model[];
  }
>;

export { ConfigError };

export interface LoadOptions {
  env?: Record<string, string | undefined>;
  /** Explicit config file (from --config); falls back to env TOLLGATE_CONFIG. */
  file?: string;
  /** Extra values that win over file and env (tests, CLI flags). */
  overrides?: Record<string, unknown>;
}

/** A config file is TOML when its name says so, in any case (tollgate.TOML too); any other is JSON. */
export const isTomlFile = (path: string): boolean => /\.toml$/i.test(path);

/** A config file's text, without the byte-order mark Windows editors save (JSON.parse refuses it). */
export const readConfigText = (path: string): string => readFileSync(path, "utf8").replace(/^\uFEFF/, "");

function readFile(path: string): Record<string, unknown> {
  const toml = isTomlFile(path);
  let text: string;
  try {
    text = readConfigText(path);
  } catch (e) {
    throw new ConfigError(`config file ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  let parsed: unknown;
  try {
    parsed = toml ? Bun.TOML.parse(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path}: ${describeParseError(text, toml, e as Error)}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new ConfigError(`config file ${path}: invalid ${toml ? "TOML" : "JSON"} (not an object)`);
  return parsed as Record<string, unknown>;
}

type Parsed = z.output<typeof ConfigSchema>;

/** One model, resolved: its deployments by priority (upstream model ids filled in) and its prices. */
export function resolveModel(m: ModelConfig): Model {
  const { deployments: given, provider: _p, ...rest } = m;
  if (!given && !m.provider) throw new ConfigError(`invalid config: models.${m.id}: needs provider or deployments`);
  if (given && m.provider) throw new ConfigError(`invalid config: models.${m.id}: give either provider or deployments, not both`);
  const upstream_model = m.upstream_model ?? m.id;
  // Stable by priority: equal priorities keep their configured order.
  const deployments = (given ?? [{ provider: m.provider!, priority: 0, weight: 1 }])
    .map((d) => ({ ...d, upstream_model: d.upstream_model ?? upstream_model }))
    .sort((a, b) => a.priority - b.priority);
  return { ...rest, ...prices(m), provider: deployments[0]!.provider, upstream_model: deployments[0]!.upstream_model, deployments };
}

/** A model's prices, resolved: the ones its kind needs are required, tools default to xAI's list. */
function prices(m: ModelConfig) {
  const required = (field: string) => new ConfigError(`invalid config: models.${m.id}.${field}: required (USD per ${field === "image_price" ? "image" : "1M tokens"})`);
  if (m.kind !== "image" && m.input_price === undefined) throw required("input_price");
  if (m.kind !== "image" && m.output_price === undefined) throw required("output_price");
  if (m.kind === "image" && m.image_price === undefined) throw required("image_price");
  const input = m.input_price ?? 0;
  return {
    input_price: input,
    cached_input_price: m.cached_input_price ?? input,
    output_price: m.output_price ?? 0,
    image_price: m.image_price ?? 0,
    tool_prices: { ...DEFAULT_TOOL_PRICES, ...m.tool_prices },
  };
}

/** The settings from file, environment and overrides, validated, resolved and frozen; bad ones throw ConfigError. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? {};
  const c = parse(gather(opts, env));
  checkSettings(c);
  const providers = resolveProviders(c, env);
  const models = resolveModels(c, new Set(providers.map((p) => p.id)));
  resolvePlans(c);
  // A hold must outlive the longest request, or the sweeper would free credit still in use.
  if (c.hold_ttl_seconds * 1000 <= c.timeouts.total_ms) {
    throw new ConfigError(
      `invalid config: hold_ttl_seconds (env TOLLGATE_HOLD_TTL_SECONDS): must be longer than timeouts.total_ms (${c.timeouts.total_ms} ms)`,
    );
  }
  return deepFreeze({ ...c, providers, models });
}

/** The raw settings: the file, then the environment over it, then the overrides over both. */
function gather(opts: LoadOptions, env: Record<string, string | undefined>): Record<string, unknown> {
  const file = opts.file ?? env.TOLLGATE_CONFIG;
  const raw: Record<string, unknown> = file ? readFile(file) : {};
  const unknownEnv = unknownEnvNames(env, keyVariables([raw.providers, opts.overrides?.providers]));
  if (unknownEnv) throw new ConfigError(unknownEnv);
  for (const [name, field] of Object.entries(ENV_MAP)) {
    const v = env[name];
    if (v !== undefined && v !== "") raw[field] = v;
  }
  Object.assign(raw, opts.overrides ?? {});
  return raw;
}

/** The variables providers name for their upstream keys (api_key_env): any name is theirs to choose. */
function keyVariables(lists: unknown[]): string[] {
  const names: string[] = [];
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const p of list) if (p && typeof p === "object" && typeof (p as { api_key_env?: unknown }).api_key_env === "string") names.push((p as { api_key_env: string }).api_key_env);
  }
  return names;
}

function parse(raw: Record<string, unknown>): Parsed {
  // Parsed once: compiling zod's fast path for this large schema would cost more than it saves.
  const parsed = ConfigSchema.safeParse(raw, { jitless: true });
  if (parsed.success) return parsed.data;
  // A misspelt key explains the rest (its setting missing or defaulted): report it first.
  const issues = parsed.error.issues;
  throw new ConfigError(formatIssue(issues.find((i) => i.code === "unrecognized_keys") ?? issues[0]!, raw));
}

/** Settings that are only valid together. */
function checkSettings(c: Parsed): void {
  // Payments need both: a checkout whose webhook cannot be verified would never be credited.
  if (Boolean(c.stripe_secret_key) !== Boolean(c.stripe_webhook_secret)) {
    throw new ConfigError(
      `invalid config: ${c.stripe_secret_key ? "stripe_webhook_secret (env STRIPE_WEBHOOK_SECRET)" : "stripe_secret_key (env STRIPE_SECRET_KEY)"}: payments need both stripe_secret_key and stripe_webhook_secret`,
    );
  }
  if (c.topup_min > c.topup_max) throw new ConfigError("invalid config: topup_min: must not exceed topup_max");
  // No single credit may exceed the balance bound (src/money/units.ts): it could never be posted.
  if ((BigInt(c.topup_max) * BigInt(c.credit_per_unit)) / 1_000_000n > BigInt(MAX_BALANCE_MICROS)) {
    throw new ConfigError("invalid config: topup_max (env TOLLGATE_TOPUP_MAX): its credit must not exceed 1000000000 USD, the most a balance may hold");
  }
  if (c.signup_credits_usd > MAX_BALANCE_MICROS) {
    throw new ConfigError("invalid config: signup_credits_usd (env TOLLGATE_SIGNUP_CREDITS_USD): must not exceed 1000000000, the most a balance may hold");
  }
  // Open sign-up confirms each address by a mailed link (the form never tells whether an email is
  // registered), built on public_url: a link built from the request's Host could point elsewhere.
  if (c.signup_enabled && !c.smtp_host) {
    throw new ConfigError("invalid config: signup_enabled (env TOLLGATE_SIGNUP_ENABLED): open sign-up mails a link to each new address: set smtp_host (env SMTP_HOST)");
  }
  if (c.signup_enabled && !c.public_url) {
    throw new ConfigError("invalid config: signup_enabled (env TOLLGATE_SIGNUP_ENABLED): the mailed sign-up links need public_url (env TOLLGATE_PUBLIC_URL)");
  }
  if (c.alert_webhook_url && !c.alert_webhook_secret) {
    throw new ConfigError("invalid config: alert_webhook_secret (env TOLLGATE_ALERT_WEBHOOK_SECRET): required with alert_webhook_url (alerts are signed)");
  }
}

/** The providers with their keys and kind; without any configured, xAI alone (xai_base_url, xai_api_key). */
function resolveProviders(c: Parsed, env: Record<string, string | undefined>): Provider[] {
  const providers: Provider[] = (c.providers ?? [{ id: "xai", base_url: c.xai_base_url, headers: {} }]).map((p) => {
    const { api_key_env: _e, api_key_file: _f, api_keys: _k, ...rest } = p;
    const api_keys = upstreamKeys(p, env, c.xai_api_key);
    const kind = p.kind ?? (p.id === "xai" || /(^|\.)x\.ai$/.test(new URL(p.base_url).hostname) ? "xai" : "openai");
    return { ...rest, kind, base_url: rest.base_url.replace(/\/+$/, ""), api_key: api_keys[0], api_keys };
  });
  const ids = new Set<string>();
  for (const p of providers) {
    if (ids.has(p.id)) throw new ConfigError(`invalid config: providers: duplicate id ${JSON.stringify(p.id)}`);
    ids.add(p.id);
  }
  return providers;
}

/** The models (the built-in ones when none is configured), each with its deployments by priority. */
function resolveModels(c: Parsed, providerIds: ReadonlySet<string>): Model[] {
  const models: Model[] = (c.models ?? defaultModels()).map(resolveModel);
  const modelIds = new Set<string>();
  for (const m of models) {
    const deployments = m.deployments ?? [];
    deployments.forEach((d, i) => {
      if (!providerIds.has(d.provider) && !c.models) throw builtinNeedsXai(providerIds);
      if (!providerIds.has(d.provider)) {
        const field = deployments.length > 1 || (c.models ?? []).find((x) => x.id === m.id)?.deployments ? `deployments.${i}.provider` : "provider";
        throw new ConfigError(`invalid config: models.${m.id}.${field}: unknown provider ${JSON.stringify(d.provider)}`);
      }
    });
    if (modelIds.has(m.id)) throw new ConfigError(`invalid config: models: duplicate id ${JSON.stringify(m.id)}`);
    modelIds.add(m.id);
  }
  return models;
}

/** Configured providers replace the built-in xAI one, which the built-in models use. */
function builtinNeedsXai(providerIds: ReadonlySet<string>): ConfigError {
  return new ConfigError(
    `invalid config: providers: you defined providers (${[...providerIds].join(", ")}) without one with id "xai", and no models: ` +
      `the built-in models (grok-4, grok-3) are served by provider "xai". Add a provider with id "xai" ` +
      `(e.g. {"id": "xai", "base_url": "https://api.x.ai/v1"}, whose key is then XAI_API_KEY), or list your models under "models"`,
  );
}

/**
 * Rate-limit plans, in place. A built-in "default" plan exists while default_plan is "default" and
 * none is configured; with another default_plan, accounts left on "default" fall back to that plan.
 */
function resolvePlans(c: Parsed): void {
  if (c.default_plan === "default" && !Object.hasOwn(c.plans, "default")) c.plans = { ...c.plans, default: { ...BUILTIN_DEFAULT_PLAN } };
  // Everything that names a plan must name a configured one; tiers ascending.
  const planRefs: [string, string][] = [["default_plan", c.default_plan], ...c.tiers.map((t, i): [string, string] => [`tiers.${i}.plan`, t.plan])];
  for (const [field, plan] of planRefs) {
    if (!Object.hasOwn(c.plans, plan)) throw new ConfigError(`invalid config: ${field}: unknown plan ${JSON.stringify(plan)} (configured: ${Object.keys(c.plans).join(", ")})`);
  }
  c.tiers.sort((a, b) => a.min_lifetime_topup_micros - b.min_lifetime_topup_micros);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
